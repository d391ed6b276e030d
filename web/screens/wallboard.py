"""大屏 (wallboard): the call centre and the orders now, for a wall screen.

Every figure comes from a function the rest of the system already has: the live queues
and agents from the call centre (`CallCenter.queues()`, the ACD's agents, as /metrics),
today's calls and 15秒接通率 from `stats.routes.call_totals` (the KPI table's
`call_kpis`), today's intake from `stats.routes.volume` (the dashboard's), the alarmed
orders from the dispatch list with the supervision board's flags, the 回电清单 (callers
who hung up in a queue or asked to be called back) from its table. The page draws the
first figures itself and `web/static/wallboard.js` polls `/web/api/wallboard`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from accounts.domain import Actor, Role
from app.keys import CALLCENTER, DISPATCH, SESSIONS
from callcenter.agents import STATE_LABELS as AGENT_STATES
from callcenter.storage import Callback
from dispatch.services import OrderFilter
from stats.routes import PeriodParams, VolumeParams, call_totals, volume
from web.render import duration_text, render
from web.session import actor_of, screen

WALLBOARD_ROLES = (Role.SUPERVISOR, Role.ADMIN)
REFRESH_SECONDS = 15
OVERDUE_FLAGS = ("overdue", "accept_overdue", "escalated")
WARNED_FLAGS = ("warning", "accept_warning")


def _call_centre(app: web.Application) -> dict[str, Any] | None:
    """Queues and agents of the running call centre; None when the SIP intake is off."""
    center = app.get(CALLCENTER)
    if center is None:
        return None
    queues = [
        {
            "queue": q.queue,
            "waiting": q.waiting,
            "longest_wait_seconds": round(q.longest_wait_seconds),
            "longest_wait": duration_text(q.longest_wait_seconds) if q.waiting else "—",
            "available": q.agents_available,
            "busy": q.agents_busy,
        }
        for q in center.queues()
    ]
    states = Counter(agent.state for agent in center.acd.agents.values())
    agents = [
        {"state": state.value, "label": label, "count": states.get(state, 0)}
        for state, label in AGENT_STATES.items()
    ]
    return {"queues": queues, "agents": agents}


async def _alarm_count(app: web.Application, actor: Actor, flags: tuple[str, ...]) -> int:
    total = (await app[DISPATCH].list(actor, OrderFilter(flags=flags), 1, 1)).total
    return total


async def _callbacks(app: web.Application, actor: Actor, since: datetime) -> dict[str, Any]:
    """回电清单 now: callers still to call back (and since when), and those called back
    today, of the hotlines the actor covers."""
    now = app[DISPATCH].now()
    scope = [Callback.hotline.in_(actor.hotlines)] if actor.hotlines else []
    async with app[SESSIONS]() as session:
        waiting, oldest = (
            await session.execute(
                select(func.count(), func.min(Callback.created_at)).where(
                    Callback.state == "open", *scope
                )
            )
        ).one()
        done = await session.scalar(
            select(func.count()).where(Callback.state == "done", Callback.done_at >= since, *scope)
        )
    return {
        "open": waiting,
        "oldest_wait": duration_text((now - oldest).total_seconds()) if oldest else "—",
        "done_today": done or 0,
    }


async def figures(app: web.Application, actor: Actor) -> dict[str, Any]:
    """Everything the wallboard shows, as JSON-ready values."""
    service = app[DISPATCH]
    now = service.now().astimezone(service.tz)
    today = now.date()
    period = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    calls = await call_totals(app, actor, PeriodParams.model_validate(period))
    intake = await volume(app, actor, VolumeParams.model_validate(period))
    return {
        "at": now.isoformat(),
        "callcenter": _call_centre(app),
        "calls": {
            k: calls.get(k)
            for k in ("offered", "answered", "abandoned", "service_level_15s", "connection_rate")
        },
        "intake": [
            {"key": r["key"], "name": r["name"], "count": r["total"]} for r in intake["series"]
        ],
        "intake_total": sum(intake["totals"]),
        "callbacks": await _callbacks(app, actor, datetime.combine(today, time.min, service.tz)),
        "overdue": await _alarm_count(app, actor, OVERDUE_FLAGS),
        "warned": await _alarm_count(app, actor, WARNED_FLAGS),
    }


@screen(*WALLBOARD_ROLES)
async def wallboard(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    context = {"board": await figures(request.app, actor), "refresh_seconds": REFRESH_SECONDS}
    return await render(request, "wallboard.html", context)


@screen(*WALLBOARD_ROLES)
async def wallboard_data(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    return web.json_response(
        await figures(request.app, actor), headers={"Cache-Control": "no-store"}
    )
