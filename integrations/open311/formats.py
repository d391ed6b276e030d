"""The two formats of GeoReport v2: JSON, and XML with the spec's element names."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

# XML element of each item of a list, by the list's own element name.
_ITEM_NAMES = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "services": "service",
    "service_requests": "request",
    "errors": "error",
}
FORMATS = ("json", "xml")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, _ITEM_NAMES.get(element.tag, "item")), item)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, data)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def respond(fmt: str, root: str, data: Any, status: int = 200) -> web.Response:
    """`data` as JSON, or as XML under `root` (a list's items named after the root)."""
    if fmt == "xml":
        return web.Response(
            body=to_xml(root, data), status=status, content_type="text/xml", charset="utf-8"
        )
    text = json.dumps(data, ensure_ascii=False)
    return web.Response(text=text, status=status, content_type="application/json")


def errors(fmt: str, status: int, description: str) -> web.Response:
    """The spec's error answer: `[{"code","description"}]`, `code` the HTTP status."""
    return respond(fmt, "errors", [{"code": status, "description": description}], status)
