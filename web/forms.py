"""HTML forms to the payloads of the use cases, validated by the API's own body models.

The limits (lengths, allowed values) are those of `dispatch.routes`, so the browser and
the API accept exactly the same input; only the error messages name the form fields in
Chinese instead of the JSON keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput
from app.http import error_text
from dispatch.routes import ACTION_BODIES, CreateOrder

FIELD_LABELS = {
    "channel": "来源渠道",
    "hotline": "热线",
    "content": "诉求内容",
    "title": "标题",
    "caller_phone": "来电号码",
    "caller_name": "来电人",
    "address": "地址",
    "type": "诉求类型",
    "urgency": "紧急程度",
    "category": "分类",
    "text": "答复内容",
    "reason": "理由",
    "unit": "承办单位",
    "co_units": "协办单位",
    "note": "意见/备注",
    "approve": "审核结果",
    "satisfaction": "满意度",
    "resolved": "是否解决",
    "parent": "主工单编号",
    "due": "新的办结时限",
    "days": "延期天数",
    "valid": "核实结果",
    "accept": "异议审核结果",
}


class FormError(InvalidInput):
    """A form field is missing or wrong; the page shows the message and keeps the input."""


ENCODING_MESSAGE = "提交的内容编码不正确(应为 UTF-8),请刷新页面后重新提交。"


async def read_form(request: web.Request) -> MultiDictProxy:
    """The posted form; bytes that are not text in the declared charset (or a charset
    Python does not know) are the sender's error, not ours. aiohttp keeps the parsed form,
    so once this has succeeded every later `request.post()` returns it."""
    try:
        return await request.post()
    except (UnicodeDecodeError, LookupError):
        raise FormError(ENCODING_MESSAGE, code="bad_encoding") from None


class FieldError(FormError):
    """One named field is wrong: the page shows the message next to that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate(
    model: type[BaseModel], data: dict[str, Any], labels: dict[str, str] = FIELD_LABELS
) -> Any:
    """The API's body model on form data; errors name the form fields (`labels`) in Chinese."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            field = str(err["loc"][0]) if err["loc"] else ""
            parts.append(f"{labels.get(field, field or '表单')}:{error_text(err['type'])}")
        raise FormError(";".join(parts)) from None


def texts(form: MultiDictProxy, *names: str) -> dict[str, str]:
    """Non-empty, stripped text fields (an empty optional field is simply absent)."""
    values = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            values[name] = value.strip()
    return values


def _yes_no(value: Any) -> bool | None:
    return {"1": True, "0": False}.get(value) if isinstance(value, str) else None


def registration(form: MultiDictProxy) -> dict[str, Any]:
    """登记表单 → the fields of `DispatchService.register` (validated like the API)."""
    data: dict[str, Any] = texts(
        form,
        "channel",
        "hotline",
        "content",
        "title",
        "caller_phone",
        "caller_name",
        "address",
        "type",
        "urgency",
        "category",
        "proposed_unit",
    )
    data["confidential"] = form.get("confidential") == "1"
    return validate(CreateOrder, data).model_dump()


def action_payload(action: str, form: MultiDictProxy, tz: ZoneInfo) -> dict[str, Any]:
    """One action's form → its payload for `DispatchService.act`."""
    data: dict[str, Any] = texts(
        form, "text", "reason", "unit", "category", "note", "parent", "satisfaction"
    )
    if action == "dispatch":
        co_units = [c for c in form.getall("co_units", []) if isinstance(c, str) and c]
        if co_units:
            data["co_units"] = co_units
    for name in ("approve", "resolved", "valid", "accept"):
        if name in form:
            data[name] = _yes_no(form.get(name))
    if action == "supervise" and (due := texts(form, "due").get("due")):
        try:
            data["due"] = datetime.fromisoformat(due).replace(tzinfo=tz)
        except ValueError:
            raise FormError("新的办结时限:格式不正确") from None
    if action == "extend_request" and (days := texts(form, "days").get("days")):
        data["days"] = days
    body = validate(ACTION_BODIES[action], data)
    return body.model_dump(exclude_none=True)
