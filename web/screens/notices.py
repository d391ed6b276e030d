"""通知 in the top bar: the signed-in user's unread notifications, marked as read here.

The same rows as `GET /api/v1/notifications` (dispatch.notifications); the top bar shows
the count and the newest few with their orders (render.py asks `header_notices`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.domain import Actor
from app.db import unit_of_work
from app.keys import DISPATCH, SESSIONS
from dispatch import notifications
from web.session import actor_of, flash, screen

SHOWN = 8  # unread notifications listed in the top bar


async def header_notices(app: web.Application, actor: Actor) -> dict[str, Any]:
    async with app[SESSIONS]() as session:
        count, rows = await notifications.unread_for(session, actor.username, SHOWN)
    tz = app[DISPATCH].tz
    items = [
        {
            "id": n.id,
            "message": n.message,
            "order": number,
            "at": n.created_at.astimezone(tz).strftime("%m-%d %H:%M"),
        }
        for n, number in rows
    ]
    return {"count": count, "latest": items}


def _back(request: web.Request, form) -> str:
    """Back to the page the form was on (a local path only)."""
    back = str(form.get("back", ""))
    return back if back.startswith("/web/") and "//" not in back else "/"


@screen()
async def mark_read(request: web.Request) -> web.StreamResponse:
    """POST /web/notifications/read (form: id, or none for 全部已读)."""
    actor = await actor_of(request)
    form = await request.post()
    raw = str(form.get("id", ""))
    ids = [int(raw)] if raw.isdigit() and int(raw) < 2**31 else None
    async with unit_of_work(request.app[SESSIONS]) as session:
        done = await notifications.mark_read(
            session, actor.username, request.app[DISPATCH].now(), ids
        )
    if ids is None:
        await flash(request, "ok", f"已将 {done} 条通知标为已读")
    raise web.HTTPFound(_back(request, form))
