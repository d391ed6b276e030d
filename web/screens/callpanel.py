"""来电弹屏: `GET /web/ws/agent`, the agent console's WebSocket for call events.

Authenticated by the web session like every screen (agents only); relays what the call
centre publishes for the signed-in agent on the push hub (`{"type": "call", ...}`) as
JSON text frames. The browser sends nothing but pings; the socket closes with the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from aiohttp import WSCloseCode, WSMsgType, web

from accounts.domain import Role
from app.keys import PUSH, SESSIONS
from callcenter.desk import user_id_of
from web.session import actor_of, screen

HEARTBEAT_SECONDS = 25
# Open sockets, closed when the server shuts down (else it waits for each browser).
SOCKETS = web.AppKey("agent_sockets", weakref.WeakSet)


def add_call_panel(app: web.Application) -> None:
    """The route and the shut-down hook (called from web/setup.py)."""
    app[SOCKETS] = weakref.WeakSet()
    app.router.add_get("/web/ws/agent", agent_socket)
    app.on_shutdown.append(close_sockets)


async def close_sockets(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


@screen(Role.AGENT)
async def agent_socket(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    user_id = await user_id_of(request.app[SESSIONS], actor.username)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    with request.app[PUSH].subscribe(user_id) as events:
        relay = asyncio.create_task(_relay(ws, events), name=f"push-{actor.username}")
        try:
            async for message in ws:  # until the browser goes away
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
    return ws


async def _relay(ws: web.WebSocketResponse, events: asyncio.Queue) -> None:
    while True:
        event = await events.get()
        await ws.send_json(event)
