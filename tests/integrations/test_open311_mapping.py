"""Order → Open311 mapping, without a database or a server."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from integrations.open311 import formats, mapping

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "state, status",
    [
        ("registered", "open"),
        ("dispatched", "open"),
        ("returned", "open"),
        ("replied", "open"),
        ("callback_pending", "open"),
        ("closed", "closed"),
        ("merged", "closed"),
        ("invalid", "closed"),
    ],
)
def test_status(state, status):
    assert mapping.status(state) == status


def test_media_url_round_trip():
    content = mapping.content_with_media("路灯不亮", "https://example.org/a.jpg")
    assert mapping.split_media(content) == ("路灯不亮", "https://example.org/a.jpg")
    assert mapping.split_media("路灯不亮") == ("路灯不亮", None)
    # a citizen's own text that mentions the prefix mid-way is left alone
    text = f"{mapping.MEDIA_PREFIX}见下\n还有别的"
    assert mapping.split_media(text) == (text, None)


def _row(**changes) -> mapping.RequestRow:
    fields = dict(
        number="20261123000001",
        state="replied",
        content="x" * 5000,
        category_code="CJ-WY",
        category_name="物业管理",
        lead_unit_name="市住建局",
        address=None,
        latitude=None,
        longitude=None,
        created_at=AT,
        updated_at=AT,
        closed_at=None,
        finish_due=AT,
        reply_text="已处理",
    )
    return mapping.RequestRow(**{**fields, **changes})


def test_request_json_times_and_limits():
    request = mapping.request_json(_row(), TZ)
    assert request["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert request["expected_datetime"] == "2026-11-23T10:00:00+08:00"
    assert len(request["description"]) == mapping.DESCRIPTION_MAX
    closed_at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    closed = mapping.request_json(_row(state="closed", closed_at=closed_at), TZ)
    assert closed["updated_datetime"] == "2026-11-24T09:00:00+08:00"
    assert closed["expected_datetime"] is None


def test_xml_names_list_items_after_their_parent():
    xml = formats.to_xml("services", [{"service_code": "A", "metadata": False, "group": None}])
    root = ET.fromstring(xml)
    assert root.tag == "services"
    assert root.findtext("service/metadata") == "false"
    assert root.findtext("service/group") == ""
