"""HTTP entrypoints of the call centre (DESIGN §9): call records and the callback list.

    GET /api/v1/calls?hotline=&from=&to=&page=&page_size=
    GET /api/v1/callbacks?hotline=&state=&page=&page_size=
    GET /api/v1/agents/me, PUT /api/v1/agents/me {action: login|pause|resume|logout,
        sip_uri, queues}: an agent's own state (签入/示忙/示闲/签出)
    GET /api/v1/agents: every agent and its state (supervisors, admins)
    PUT /api/v1/agents/{username}/sip-password {password}: the agent's softphone password
        for Kamailio's registrar (admins, or the agent themself); only HA1 is kept
    PUT /api/v1/agents/{username}/languages {languages}: 语言技能 (admins): the language
        queues the agent takes besides the queues it chose at login
    GET /api/v1/queues: per queue: waiting, longest wait, agents, estimated wait
    POST /api/v1/calls/{id}/transfer {agent | queue}: blind transfer (the agent on the call)
    POST /api/v1/calls/{id}/emergency: 紧急转接 mark (the agent on the call, supervisors)
    GET /api/v1/calls/{id}/recording: the WAV, for users who may see the call's order
    POST /api/v1/calls/{id}/conference {uri, unit}: 三方通话, add a unit's phone (the agent
        on the call); DELETE /api/v1/calls/{id}/conference: 结束三方
    POST /api/v1/calls/{id}/linkage {service, mode}: 应急联动, hand the call over to the
        110/119/120/122 gateway (the agent on the call, supervisors); GET: its hand-overs
    GET, POST /api/v1/orders/{number}/linkage {service, note}: an order's hand-overs; a
        hand-over made by other means (by phone) recorded by hand (outcome manual)

Centre roles only. Callers' numbers are masked for roles outside PHONE_ROLES; managers
of a sub-platform (users with hotlines) see their hotlines only; agents see the calls
they took (DESIGN §3: "own calls") and the whole callback list, which they work from.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ConfigDict, Field, model_validator
from sqlalchemy import select

from accounts.audit import Event, Result
from accounts.domain import PHONE_ROLES, Actor, Role, mask_phone
from accounts.routes import phones_viewed, trail
from accounts.storage import User
from app.errors import AppError, Forbidden, InvalidInput
from app.http import ApiRoute, Call, Page, StrictBody, page_answer, page_of
from app.keys import CALLCENTER, DISPATCH, SESSIONS, SETTINGS
from callcenter import desk, linkage, softphones, storage
from callcenter.agents import Agent
from callcenter.domain import CallRecord
from callcenter.exceptions import CallNotFound, NotAnAgent

CALL_ROLES = desk.CALL_ROLES


class CallQuery(Page):
    model_config = ConfigDict(populate_by_name=True)

    hotline: str | None = Field(None, max_length=20)
    start: str | None = Field(None, alias="from", max_length=40)
    end: str | None = Field(None, alias="to", max_length=40)


class CallbackQuery(Page):
    hotline: str | None = Field(None, max_length=20)
    state: Literal["open", "done"] | None = None


def parse_bound(value: str | None, tz: ZoneInfo, name: str) -> datetime | None:
    """A date (local midnight) or an ISO date-time with an offset; half-open [from, to)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tz)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} 格式不正确,应为 YYYY-MM-DD 或带时区的时间") from None
    if at.tzinfo is None:
        raise InvalidInput(f"{name} 须带时区(如 2026-11-01T00:00:00+08:00)")
    return at


def _phone(actor: Actor, phone: str) -> str | None:
    return phone if actor.role in PHONE_ROLES else mask_phone(phone)


def call_view(record: CallRecord, actor: Actor) -> dict[str, Any]:
    wait = record.queue_wait_seconds
    return {
        "id": record.id,
        "hotline": record.hotline,
        "caller": _phone(actor, record.caller),
        "offered_at": record.offered_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "agent": record.agent,
        "outcome": record.outcome,
        "order": record.order_number,
        # Beyond the §9 fields: the IVR's queue and the time waited in it.
        "queue": record.queue,
        "queue_wait_seconds": None if wait is None else round(wait, 3),
        "emergency": record.emergency,
        "emergency_at": record.emergency_at,
        "three_way_at": record.three_way_at,
        "conference_unit": record.conference_unit,
    }


def callback_view(row: storage.Callback, actor: Actor) -> dict[str, Any]:
    return {
        "id": row.id,
        "call": row.call_id,
        "hotline": row.hotline,
        "caller": _phone(actor, row.caller),
        "reason": row.reason,
        "queue": row.queue,
        "wait_seconds": row.wait_seconds,
        "created_at": row.created_at,
        "state": row.state,
        "done_at": row.done_at,
        "done_by": row.done_by,
    }


async def list_calls(request: web.Request, call: Call):
    q: CallQuery = call.query
    tz = ZoneInfo(request.app[SETTINGS].calendar.timezone)
    since, until = parse_bound(q.start, tz, "from"), parse_bound(q.end, tz, "to")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("to 必须晚于 from(区间为 [from, to))")
    actor = call.actor
    async with request.app[SESSIONS]() as session:
        records, total = await storage.page_calls(
            session,
            hotline=q.hotline,
            since=since,
            until=until,
            hotlines=actor.hotlines,
            agent=actor.username if actor.role == Role.AGENT else None,
            page=q.page,
            page_size=q.page_size,
        )
    if actor.role in PHONE_ROLES:
        shown = [r.id for r in records if r.caller]
        await phones_viewed(request, actor, shown, "api.calls")
    return page_answer([call_view(r, actor) for r in records], total, q.page, q.page_size)


async def list_callbacks(request: web.Request, call: Call):
    q: CallbackQuery = call.query
    actor = call.actor
    async with request.app[SESSIONS]() as session:
        rows, total = await storage.page_callbacks(
            session,
            hotline=q.hotline,
            state=q.state,
            hotlines=actor.hotlines,
            page=q.page,
            page_size=q.page_size,
        )
    return page_answer([callback_view(r, actor) for r in rows], total, q.page, q.page_size)


class AgentChange(StrictBody):
    action: Literal["login", "pause", "resume", "logout"]
    sip_uri: str | None = Field(None, max_length=200)
    queues: list[str] = Field(default_factory=list, max_length=20)


async def my_agent(request: web.Request, call: Call):
    agent = await desk.own_agent(request.app, call.actor)
    return desk.agent_view(agent, request.app)


async def change_my_agent(request: web.Request, call: Call):
    body: AgentChange = call.body
    queues = tuple(q[:40] for q in body.queues)
    agent = await desk.change_own_state(request.app, call.actor, body.action, body.sip_uri, queues)
    return desk.agent_view(agent, request.app)


class AgentLanguages(StrictBody):
    languages: list[str] = Field(max_length=20)


async def change_languages(
    request: web.Request, actor: Actor, username: str, codes: list[str]
) -> Agent:
    """语言技能 of an agent (an admin's act, audited; the API and the admin screen)."""
    audit, detail = trail(request, actor), {"languages": codes}
    try:  # the ACD writes the agent itself: the audit line in a transaction of its own
        agent = await desk.set_languages(request.app, username, codes)
    except AppError as exc:
        failed = {**detail, "error": exc.code}
        await audit.alone(Event.USER_UPDATE, username, Result.FAILURE, failed)
        raise
    await audit.alone(Event.USER_UPDATE, username, detail=detail)
    return agent


async def set_agent_languages(request: web.Request, call: Call):
    """The language queues the agent takes besides those chosen at login."""
    body: AgentLanguages = call.body
    username = request.match_info["username"]
    agent = await change_languages(request, call.actor, username, body.languages)
    return desk.agent_view(agent, request.app)


class SipPassword(StrictBody):
    password: str = Field(min_length=1, max_length=200)


async def set_sip_password(request: web.Request, call: Call):
    """软电话密码: kept as digest HA1 for Kamailio (callcenter/softphones.py); audited."""
    username = request.match_info["username"]
    body: SipPassword = call.body
    actor = call.actor
    if actor.role is not Role.ADMIN and actor.username != username:
        raise Forbidden("只能设置自己的 SIP 密码")
    realm = request.app[SETTINGS].sip.registrar_realm
    now = request.app[DISPATCH].now()
    async with trail(request, actor).act(Event.PASSWORD_SIP, username) as (session, act):
        act.detail["realm"] = realm
        role = await session.scalar(
            select(User.role).where(User.username == username, User.active.is_(True))
        )
        if role != Role.AGENT.value:
            raise NotAnAgent(username)
        await softphones.set_password(session, username, realm, body.password, now)
    return {"username": username, "realm": realm, "updated_at": now}


async def list_queues(request: web.Request, call: Call):
    center = request.app.get(CALLCENTER)
    items = [] if center is None else [asdict(q) for q in center.queues()]
    return page_of(items, call.query)


async def list_agents(request: web.Request, call: Call):
    agents = await desk.all_agents(request.app)
    return page_of([desk.agent_view(a, request.app) for a in agents], call.query)


def _call_id(request: web.Request) -> str:
    call_id = request.match_info["id"]
    if len(call_id) > 32 or not call_id.isalnum():
        raise CallNotFound(call_id)
    return call_id


class TransferTo(StrictBody):
    agent: str | None = Field(None, min_length=1, max_length=60)
    queue: str | None = Field(None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _one_target(self) -> TransferTo:
        if (self.agent is None) == (self.queue is None):
            raise ValueError("agent 与 queue 须填写且只填写其中一个")
        return self


async def transfer(request: web.Request, call: Call):
    body: TransferTo = call.body
    call_id = _call_id(request)
    await desk.transfer(request.app, call.actor, call_id, body.agent, body.queue)
    return {"call": call_id, "agent": body.agent, "queue": body.queue}


async def emergency(request: web.Request, call: Call):
    record = await desk.mark_emergency(request.app, call.actor, _call_id(request))
    return call_view(record, call.actor)


class ConferenceWith(StrictBody):
    uri: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(None, min_length=1, max_length=40)


async def add_unit(request: web.Request, call: Call):
    body: ConferenceWith = call.body
    return await desk.add_unit(request.app, call.actor, _call_id(request), body.uri, body.unit)


async def end_unit(request: web.Request, call: Call):
    return await desk.end_unit(request.app, call.actor, _call_id(request))


Service = Literal["110", "119", "120", "122"]


class LinkageRequest(StrictBody):
    service: Service
    mode: Literal["transfer", "conference"] | None = None  # None: [linkage] mode


class LinkageRecord(StrictBody):
    service: Service
    note: str = Field("", max_length=linkage.NOTE_MAX)


async def hand_over(request: web.Request, call: Call):
    body: LinkageRequest = call.body
    audit = trail(request, call.actor)
    call_id = _call_id(request)
    return await linkage.hand_over(request.app, call.actor, audit, call_id, body.service, body.mode)


async def call_handovers(request: web.Request, call: Call):
    items = await linkage.for_call(request.app, call.actor, _call_id(request))
    return page_of(items, call.query)


async def order_handovers(request: web.Request, call: Call):
    number = request.match_info["number"]
    items = await linkage.for_order(request.app, call.actor, number)
    return page_of(items, call.query)


async def record_handover(request: web.Request, call: Call):
    body: LinkageRecord = call.body
    audit = trail(request, call.actor)
    number = request.match_info["number"]
    return await linkage.record_manual(
        request.app, call.actor, audit, number, body.service, body.note
    )


async def recording_response(request: web.Request, actor: Actor) -> web.FileResponse:
    """收听录音: every download is in the audit trail, a refused one as a failure. The
    one door to a recording: the API below and the web's 质检 page (web/screens/quality)."""
    audit = trail(request, actor)
    call_id = request.match_info["id"]
    try:
        path = await desk.recording_file(request.app, actor, _call_id(request))
    except AppError as exc:
        await audit.alone(Event.RECORDING, call_id, Result.FAILURE, {"error": exc.code})
        raise
    await audit.alone(Event.RECORDING, call_id, detail={"file": path.name})
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


async def recording(request: web.Request, call: Call):
    return await recording_response(request, call.actor)


routes = [
    ApiRoute(
        "PUT",
        "/api/v1/agents/{username}/sip-password",
        set_sip_password,
        "设置坐席软电话 SIP 密码(仅保存摘要 HA1)",
        roles=frozenset({Role.ADMIN, Role.AGENT}),
        body=SipPassword,
        tags=("calls",),
    ),
    ApiRoute(
        "PUT",
        "/api/v1/agents/{username}/languages",
        set_agent_languages,
        "设置坐席语言技能(多语种队列)",
        roles=frozenset({Role.ADMIN}),
        body=AgentLanguages,
        tags=("calls",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/queues",
        list_queues,
        "排队情况(等待人数、最长等待、预计等待)",
        roles=CALL_ROLES,
        query=Page,
        tags=("calls",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/calls/{id}/transfer",
        transfer,
        "转接(盲转)到其他坐席或队列",
        roles=frozenset({Role.AGENT}),
        body=TransferTo,
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/calls/{id}/emergency",
        emergency,
        "紧急转接标记",
        roles=frozenset({Role.AGENT, Role.SUPERVISOR}),
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/calls/{id}/conference",
        add_unit,
        "三方通话:加入承办单位电话",
        roles=frozenset({Role.AGENT}),
        body=ConferenceWith,
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/calls/{id}/conference",
        end_unit,
        "结束三方通话(承办单位退出)",
        roles=frozenset({Role.AGENT}),
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/calls/{id}/linkage",
        hand_over,
        "应急联动:转接 110/119/120/122(转接或三方)",
        roles=linkage.REQUEST_ROLES,
        body=LinkageRequest,
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/calls/{id}/linkage",
        call_handovers,
        "通话的应急联动记录",
        roles=CALL_ROLES,
        query=Page,
        tags=("calls",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/orders/{number}/linkage",
        order_handovers,
        "工单的应急联动记录",
        roles=linkage.RECORD_ROLES | {Role.ADMIN},
        query=Page,
        tags=("orders",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/orders/{number}/linkage",
        record_handover,
        "登记应急联动(电话等其他方式移交)",
        roles=linkage.RECORD_ROLES,
        body=LinkageRecord,
        status=201,
        tags=("orders",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/calls/{id}/recording",
        recording,
        "通话录音(WAV)",
        roles=CALL_ROLES | {Role.UNIT},
        tags=("calls",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/agents/me",
        my_agent,
        "坐席状态",
        roles=frozenset({Role.AGENT}),
        tags=("calls",),
    ),
    ApiRoute(
        "PUT",
        "/api/v1/agents/me",
        change_my_agent,
        "坐席签入、示忙、示闲、签出",
        roles=frozenset({Role.AGENT}),
        body=AgentChange,
        tags=("calls",),
        errors=(409,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/agents",
        list_agents,
        "坐席列表与状态",
        roles=frozenset({Role.SUPERVISOR, Role.ADMIN}),
        query=Page,
        tags=("calls",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/calls",
        list_calls,
        "通话记录(话单)",
        roles=CALL_ROLES,
        query=CallQuery,
        tags=("calls",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/callbacks",
        list_callbacks,
        "回电清单",
        roles=CALL_ROLES,
        query=CallbackQuery,
        tags=("calls",),
    ),
]
