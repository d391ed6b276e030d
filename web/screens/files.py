"""GET /web/files/{id} and the attachments API: a file is served only to users who may
see its order (the order's scope rules; another unit's file is a 404, like its order)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from accounts.domain import Actor, Role
from app.errors import Forbidden, NotFound
from app.http import ApiRoute, Call, Page, page_of
from app.keys import DISPATCH, SESSIONS, SETTINGS
from dispatch.storage import Order
from web import uploads
from web.session import actor_of, screen
from web.storage import Attachment

# Roles that may add files to an order they can see (citizens have no login).
UPLOAD_ROLES = frozenset(
    {Role.AGENT, Role.DISPATCHER, Role.UNIT, Role.SUPERVISOR, Role.INSPECTOR, Role.ADMIN}
)


def disposition(attachment: Attachment) -> str:
    """Images open in the page; everything else downloads. The name in RFC 5987 form."""
    kind = "inline" if attachment.mime in uploads.IMAGE_TYPES else "attachment"
    ascii_name = attachment.original_name.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(attachment.original_name)}"


async def visible_attachment(request: web.Request, actor: Actor, attachment_id: str) -> Attachment:
    """The attachment, if its order is visible to the actor; NotFound otherwise."""
    async with request.app[SESSIONS]() as session:
        row = await session.get(Attachment, attachment_id)
        order = await session.get(Order, row.order_id) if row else None
    if row is None or order is None:
        raise NotFound("附件不存在")
    await request.app[DISPATCH].get(actor, order.number)  # scope: OrderNotFound -> 404
    return row


@screen()
async def serve(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    row = await visible_attachment(request, actor, request.match_info["id"])
    try:
        body = await uploads.read(request.app[SETTINGS].web, row)
    except FileNotFoundError:
        raise NotFound("附件文件已丢失") from None
    return web.Response(
        body=body,
        content_type=row.mime,
        headers={
            "Content-Disposition": disposition(row),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def _order(request: web.Request, call: Call):
    return await request.app[DISPATCH].get(call.actor, request.match_info["number"])


async def list_attachments(request: web.Request, call: Call):
    detail = await _order(request, call)
    async with request.app[SESSIONS]() as session:
        rows = await uploads.for_orders(session, [detail.order.id])
    tz = request.app[DISPATCH].tz
    return page_of([uploads.as_json(r, tz) for r in rows], call.query)


async def add_attachments(request: web.Request, call: Call):
    if call.actor.role not in UPLOAD_ROLES:
        raise Forbidden("当前角色无权上传附件")
    detail = await _order(request, call)
    settings = request.app[SETTINGS].web
    files = await uploads.from_multipart(request, settings)
    sessions = request.app[SESSIONS]
    await uploads.check_quota(sessions, detail.order.id, len(files), settings)
    service = request.app[DISPATCH]
    rows = await uploads.save(
        sessions, settings, detail.order.id, None, call.actor, files, service.now()
    )
    return {"items": [uploads.as_json(r, service.tz) for r in rows], "total": len(rows)}


API_ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/orders/{number}/attachments",
        list_attachments,
        "工单附件列表",
        query=Page,
        tags=("orders",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/orders/{number}/attachments",
        add_attachments,
        "上传工单附件(multipart/form-data,字段 files;图片、PDF、Office 文档)",
        status=201,
        tags=("orders",),
        errors=(413,),
    ),
]
