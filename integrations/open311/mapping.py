"""Order ⇄ Open311 service request, catalogue ⇄ services: plain functions, no I/O.

Status: GeoReport v2 knows only `open` and `closed`. An order is `closed` once the
centre has settled it — 办结 (`closed`), 并单 (`merged` into another order) or 无效
(`invalid`). A `replied` order stays `open`: the unit has answered (its text is the
`status_notes`) but the centre still calls the citizen back (回访) and may reopen it, so
the request is not settled until the centre closes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config import Open311AttributeSettings

CLOSED_STATES = frozenset({"closed", "merged", "invalid"})
# The spec's limit on `description` (and the published schema's maxLength).
DESCRIPTION_MAX = 4000
# How a posted media_url is kept in the order's content (orders have no media column):
# the last line, so agents see it and GET answers can give it back.
MEDIA_PREFIX = "附件链接: "
_MEDIA_LINE = re.compile(r"\n\n" + re.escape(MEDIA_PREFIX) + r"(\S+)\Z")


def status(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the hotline's offset (the spec's w3 format)."""
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None


def content_with_media(description: str, media_url: str | None) -> str:
    return f"{description}\n\n{MEDIA_PREFIX}{media_url}" if media_url else description


def split_media(content: str) -> tuple[str, str | None]:
    """The description and the media_url kept by `content_with_media`."""
    match = _MEDIA_LINE.search(content)
    if match is None:
        return content, None
    return content[: match.start()], match.group(1)


@dataclass(frozen=True)
class Service:
    """One service: a leaf of the dispatch catalogue (派单目录)."""

    code: str
    name: str
    path: tuple[str, ...]  # names from the first level down to this one

    @property
    def group(self) -> str:
        return self.path[0]


def service_json(service: Service, attributes: list[Open311AttributeSettings]) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": " / ".join(service.path),
        "metadata": bool(attributes),
        "type": "realtime",
        "keywords": ",".join(service.path),
        "group": service.group,
    }


def definition_json(code: str, attributes: list[Open311AttributeSettings]) -> dict[str, Any]:
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": None,
                "order": position,
                "description": a.description,
                **(
                    {"values": [{"key": k, "name": n} for k, n in a.values.items()]}
                    if a.datatype == "singlevaluelist"
                    else {}
                ),
            }
            for position, a in enumerate(attributes, start=1)
        ],
    }


@dataclass(frozen=True)
class RequestRow:
    """What a service request is made of: the order's columns and a few joined names.
    Deliberately no caller phone, name or e-mail: GET answers are public."""

    number: str
    state: str
    content: str
    category_code: str
    category_name: str | None
    lead_unit_name: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    finish_due: datetime | None
    reply_text: str | None


def request_json(row: RequestRow, tz: ZoneInfo) -> dict[str, Any]:
    description, media_url = split_media(row.content)
    settled = status(row.state) == "closed"
    return {
        "service_request_id": row.number,
        "status": status(row.state),
        "status_notes": row.reply_text,
        "service_name": row.category_name,
        "service_code": row.category_code,
        "description": description[:DESCRIPTION_MAX],
        "agency_responsible": row.lead_unit_name,
        "service_notice": None,
        "requested_datetime": iso(row.created_at, tz),
        "updated_datetime": iso((row.closed_at if settled else None) or row.updated_at, tz),
        "expected_datetime": None if settled else iso(row.finish_due, tz),
        "address": row.address,
        "address_id": None,
        "zipcode": None,
        "lat": row.latitude,
        "long": row.longitude,
        "media_url": media_url,
    }


def service_notice(number: str) -> str:
    return f"已受理,工单编号 {number};可凭编号查询办理进度"
