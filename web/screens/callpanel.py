"""来电弹屏 and 坐席状态 on the agent console.

`GET /web/ws/agent`: the console's WebSocket for call events.

Authenticated by the web session like every screen (agents only); relays what the call
centre publishes for the signed-in agent on the push hub (`{"type": "call", ...}`) as
JSON text frames. The browser sends nothing but pings; the socket closes with the page.

`GET /web/api/agent-state`, `POST /web/api/agent-state` (form: action, sip_uri; CSRF
checked by the web middleware): the agent's own state for the console's status bar
(签入/示忙/示闲/签出), the same use case as `PUT /api/v1/agents/me`.

`POST /web/api/calls/{id}/emergency`, `POST /web/api/calls/{id}/transfer` (form: agent
or queue): the call panel's 紧急转接 and 转接 buttons (as the `/api/v1/calls/...` ones).

`POST /web/api/calls/{id}/conference` (form: uri, unit), `POST /web/api/calls/{id}/
conference/end`: the 三方通话 / 结束三方 buttons; the unit leg's state then arrives on
the WebSocket as `{"type": "conference", "state": ringing|connected|ended|failed, ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from accounts.domain import Role
from accounts.routes import trail
from app.errors import AppError, Forbidden
from app.http import error_response, json_response
from app.keys import PUSH, SESSIONS, SETTINGS
from callcenter import desk, linkage
from callcenter.desk import user_id_of
from web.session import actor_of, screen

ACTIONS = ("login", "pause", "resume", "logout")

HEARTBEAT_SECONDS = 25
# Open sockets, closed when the server shuts down (else it waits for each browser).
SOCKETS = web.AppKey("agent_sockets", weakref.WeakSet)


def add_call_panel(app: web.Application) -> None:
    """The route and the shut-down hook (called from web/setup.py)."""
    app[SOCKETS] = weakref.WeakSet()
    app.router.add_get("/web/ws/agent", agent_socket)
    app.router.add_get("/web/api/agent-state", agent_state)
    app.router.add_post("/web/api/agent-state", change_agent_state)
    call = r"/web/api/calls/{id:[0-9a-f]{32}}"
    app.router.add_post(call + "/emergency", call_emergency)
    app.router.add_post(call + "/transfer", call_transfer)
    app.router.add_post(call + "/conference", call_conference)
    app.router.add_post(call + "/conference/end", call_conference_end)
    app.router.add_post(call + "/linkage", call_linkage)
    app.on_shutdown.append(close_sockets)


async def close_sockets(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def same_origin(request: web.Request) -> bool:
    """A browser names the page that opens a WebSocket in `Origin`, and the cookie goes
    along whatever the page: a foreign page must not listen to an agent's calls (CSWSH).
    Same origin: the host the request came to, or the configured public URL."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (browsers always send it on WebSockets)
    host = urlsplit(origin).netloc.lower()
    public = urlsplit(request.app[SETTINGS].server.public_url).netloc.lower()
    return bool(host) and host in {request.host.lower(), public}


@screen(Role.AGENT)
async def agent_socket(request: web.Request) -> web.StreamResponse:
    if not same_origin(request):
        raise Forbidden("不允许从其他网站连接坐席推送")
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


@screen(Role.AGENT)
async def agent_state(request: web.Request) -> web.StreamResponse:
    agent = await desk.own_agent(request.app, await actor_of(request))
    return json_response(desk.agent_view(agent, request.app))


@screen(Role.AGENT)
async def change_agent_state(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    action = form.get("action")
    if action not in ACTIONS:
        return error_response(400, "validation_error", "未知的坐席操作")
    sip_uri = str(form.get("sip_uri", "")).strip()[:200] or None
    try:
        agent = await desk.change_own_state(
            request.app, await actor_of(request), str(action), sip_uri
        )
    except AppError as exc:  # a bad URI, pausing while talking: shown on the console
        return error_response(exc.status, exc.code, exc.message)
    return json_response(desk.agent_view(agent, request.app))


@screen(Role.AGENT)
async def call_emergency(request: web.Request) -> web.StreamResponse:
    try:
        record = await desk.mark_emergency(
            request.app, await actor_of(request), request.match_info["id"]
        )
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return json_response({"call": record.id, "emergency": record.emergency})


@screen(Role.AGENT)
async def call_transfer(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    agent = str(form.get("agent", "")).strip()[:60] or None
    queue = str(form.get("queue", "")).strip()[:40] or None
    if (agent is None) == (queue is None):
        return error_response(400, "validation_error", "请选择转接的坐席或队列(二选一)")
    call_id = request.match_info["id"]
    try:
        await desk.transfer(request.app, await actor_of(request), call_id, agent, queue)
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return json_response({"call": call_id, "agent": agent, "queue": queue})


@screen(Role.AGENT)
async def call_conference(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    uri = str(form.get("uri", "")).strip()[:200]
    unit = str(form.get("unit", "")).strip()[:40] or None
    if not uri:
        return error_response(400, "validation_error", "请填写承办单位的 SIP 地址")
    try:
        answer = await desk.add_unit(
            request.app, await actor_of(request), request.match_info["id"], uri, unit
        )
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return json_response(answer)


@screen(Role.AGENT)
async def call_conference_end(request: web.Request) -> web.StreamResponse:
    try:
        answer = await desk.end_unit(request.app, await actor_of(request), request.match_info["id"])
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return json_response(answer)


@screen(Role.AGENT)
async def call_linkage(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    service = str(form.get("service", ""))
    mode = str(form.get("mode", "")) or None
    if service not in linkage.SERVICES or mode not in (None, *linkage.MODES):
        return error_response(400, "validation_error", "请选择 110、119、120 或 122")
    actor = await actor_of(request)
    try:
        answer = await linkage.hand_over(
            request.app, actor, trail(request, actor), request.match_info["id"], service, mode
        )
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return json_response(answer)
