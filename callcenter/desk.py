"""Use cases of agents and of the calls they take (坐席服务), for HTTP and the console.

- An agent's own state: log in with a SIP URI, pause, resume, log out. With the SIP
  intake running the change goes through its ACD (which may ring the agent at once);
  without it (`[sip] enabled = false`) only the stored row changes.
- Supervisors and admins list every agent.
- The screen pop (弹屏): when an agent answers, the agent's browser gets the caller,
  the hotline and the caller's previous orders.
- Linking the order registered during a call to its call record.
- Marking a call for an emergency hand-over; serving its recording to those who may.
- Blind transfer (转接) of a call to another agent or a queue.
- Three-way call with a unit (三方通话): the agent adds a unit's phone, and drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select, update

from accounts import services as accounts
from accounts.domain import Actor, Role
from accounts.storage import User
from app.db import unit_of_work
from app.errors import InvalidInput
from app.keys import BUS, CALLCENTER, DISPATCH, PUSH, SESSIONS, SETTINGS
from callcenter import agents, languages, softphones, storage
from callcenter.agents import Agent
from callcenter.domain import CallRecord
from callcenter.exceptions import CallNotFound, ConferenceNotPossible, NotAnAgent
from callcenter.ivr import GENERAL_QUEUE, TOPICS
from callcenter.recordings import resolve
from dispatch.lifecycle import STATE_LABELS, State
from dispatch.services import DispatchService, OrderFilter
from dispatch.storage import Unit

log = logging.getLogger(__name__)

CALL_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
SCREEN_POP_ORDERS = 5
CONTENT_CLIP = 60


async def user_id_of(sessions, username: str) -> int:
    async with sessions() as session:
        user_id = await session.scalar(
            select(User.id).where(User.username == username, User.active.is_(True))
        )
    if user_id is None:
        raise NotAnAgent(username)
    return int(user_id)


def transition(action: str, sip_uri: str | None, queues: tuple[str, ...], at: datetime):
    """The agents.* rule behind an API action."""
    match action:
        case "login":
            return lambda a: agents.login(a, sip_uri or a.sip_uri or "", queues or a.queues, at)
        case "pause":
            return lambda a: agents.pause(a, at)
        case "resume":
            return lambda a: agents.resume(a, at)
        case "logout":
            return lambda a: agents.logout(a, at)
    raise ValueError(action)


async def change_own_state(
    app: web.Application,
    actor: Actor,
    action: str,
    sip_uri: str | None = None,
    queues: tuple[str, ...] = (),
) -> Agent:
    sessions = app[SESSIONS]
    user_id = await user_id_of(sessions, actor.username)
    if action == "login" and not sip_uri:  # the softphone registered to Kamailio, if any
        sip_uri = softphones.registered_uri(app[SETTINGS].sip, actor.username)
    change: Callable[[Agent], Agent] = transition(action, sip_uri, queues, app[DISPATCH].now())
    return await _change_agent(app, user_id, actor.username, change)


async def set_languages(app: web.Application, username: str, codes: list[str]) -> Agent:
    """语言技能 (an admin's act): the languages whose queues the agent takes."""
    unknown = sorted(set(codes) - set(languages.LANGUAGES))
    if unknown:
        raise InvalidInput(f"未知语种: {', '.join(unknown)}", code="unknown_language")
    async with app[SESSIONS]() as session:
        row = (
            await session.execute(
                select(User.id, User.role).where(User.username == username, User.active.is_(True))
            )
        ).first()
    if row is None or row.role != Role.AGENT.value:
        raise NotAnAgent(username)
    user_id = int(row.id)
    spoken = tuple(code for code in languages.LANGUAGES if code in codes)
    return await _change_agent(app, user_id, username, lambda a: replace(a, languages=spoken))


async def _change_agent(
    app: web.Application, user_id: int, username: str, change: Callable[[Agent], Agent]
) -> Agent:
    """On the live ACD when this node's intake runs, else on the stored agent."""
    center = app.get(CALLCENTER)
    if center is not None and center.endpoint.running:
        return await center.change_agent(user_id, username, change)
    async with unit_of_work(app[SESSIONS]) as session:
        agent = await storage.load_agent(session, user_id) or Agent(user_id, username)
        agent = change(agent)
        await storage.save_agents(session, [agent])
    if (bus := app.get(BUS)) is not None:  # the intakes of other nodes offer calls to it
        await bus.publish("agents", {"user_ids": [user_id]})
    return agent


async def own_agent(app: web.Application, actor: Actor) -> Agent:
    user_id = await user_id_of(app[SESSIONS], actor.username)
    return await agent_of(app, user_id, actor.username)


async def agent_of(app: web.Application, user_id: int, username: str) -> Agent:
    """The agent as the live ACD has it, else as stored (a new one: logged out)."""
    center = app.get(CALLCENTER)
    if center is not None and user_id in center.acd.agents:
        return center.acd.agents[user_id]
    async with app[SESSIONS]() as session:
        return await storage.load_agent(session, user_id) or Agent(user_id, username)


async def all_agents(app: web.Application) -> list[Agent]:
    async with app[SESSIONS]() as session:
        stored = {a.user_id: a for a in await storage.load_agents(session)}
    center = app.get(CALLCENTER)
    if center is not None:  # the live states win
        stored.update(center.acd.agents)
    return sorted(stored.values(), key=lambda a: a.username)


def agent_view(agent: Agent, app: web.Application) -> dict[str, Any]:
    center = app.get(CALLCENTER)
    return {
        "username": agent.username,
        "state": agent.state.value,
        "state_label": agent.label,
        "state_since": agent.state_since,
        "sip_uri": agent.sip_uri,
        "queues": list(agent.queues),
        "languages": list(agent.languages),
        "idle_since": agent.idle_since,
        "pause_reason": agent.pause_reason,
        "call": agent.call_id,
        "waiting": None if center is None else len(center.acd.waiting()),
    }


# ------------------------------------------------------------------ screen pop


async def previous_orders(
    dispatch: DispatchService, sessions, agent: str, phone: str
) -> list[dict]:
    """The caller's latest orders (newest first), as the agent may see them (a
    sub-platform agent: its hotlines only)."""
    if not phone or phone == "anonymous":
        return []
    async with sessions() as session:
        user = await session.scalar(select(User).where(User.username == agent))
        actor = (
            await accounts.actor_for(session, user)
            if user is not None
            else Actor(username=agent, role=Role.AGENT)
        )
    found = await dispatch.list(actor, OrderFilter(caller_phone=phone), 1, SCREEN_POP_ORDERS)
    rows = sorted(found.rows, key=lambda o: o.created_at, reverse=True)
    return [
        {
            "number": o.number,
            "state": o.state,
            "state_label": STATE_LABELS[State(o.state)],
            "category": o.category_code,
            "created": o.created_at.astimezone(dispatch.tz).strftime("%Y-%m-%d %H:%M"),
            "content": o.content
            if len(o.content) <= CONTENT_CLIP
            else o.content[:CONTENT_CLIP] + "…",
        }
        for o in rows
    ]


async def screen_pop(app: web.Application, agent: Agent, record: CallRecord) -> int:
    """Tell the agent's consoles about the call just bridged; how many got it."""
    orders = await previous_orders(app[DISPATCH], app[SESSIONS], agent.username, record.caller)
    event = {
        "type": "call",
        "call_id": record.id,
        "hotline": record.hotline,
        "caller": record.caller,  # unmasked: agents may see callers' numbers
        "queue": record.queue,
        "language": record.language or languages.MANDARIN,
        "language_label": languages.label(record.language),
        "orders": orders,
    }
    return app[PUSH].publish(agent.user_id, event)


class ScreenPops:
    """The intake's `on_connected` hook: one task per pop, kept until done, failures logged."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._tasks: set[asyncio.Task] = set()

    def __call__(self, agent: Agent, record: CallRecord) -> None:
        task = asyncio.get_running_loop().create_task(screen_pop(self.app, agent, record))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("screen pop failed", exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class ConsoleEvents:
    """The intake's `on_conference` hook: other call events for an agent's consoles."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def __call__(self, user_id: int, event: dict[str, Any]) -> int:
        hub = self.app.get(PUSH)  # none in an app without the web screens
        return 0 if hub is None else hub.publish(user_id, event)


# ------------------------------------------------------------------ order linking


async def link_order(app: web.Application, actor: Actor, call_id: str, order_number: str) -> bool:
    """The order registered during call `call_id` goes on its call record (`order`).

    Only the agent who took the call links it; anything else is ignored (False).
    """
    center = app.get(CALLCENTER)
    if center is not None:
        found = center.active_record(call_id)
        if found is not None:
            if found[1].agent != actor.username:
                return False
            return await center.link_order(call_id, order_number)
    async with unit_of_work(app[SESSIONS]) as session:
        result = await session.execute(
            update(storage.Call)
            .where(
                storage.Call.id == call_id,
                storage.Call.agent == actor.username,
                storage.Call.order_number.is_(None),
            )
            .values(order_number=order_number)
        )
    return bool(result.rowcount)


# ------------------------------------------------------------------ emergency, recordings


async def find_call(app: web.Application, call_id: str) -> CallRecord:
    """The call as it stands now (live if in progress); CallNotFound otherwise."""
    center = app.get(CALLCENTER)
    if center is not None:
        found = center.active_record(call_id)
        if found is not None:
            return found[1]
        await center.flush()
    async with app[SESSIONS]() as session:
        row = await storage.get_call(session, call_id)
    if row is None:
        raise CallNotFound(call_id)
    return storage.from_row(row)


async def mark_emergency(app: web.Application, actor: Actor, call_id: str) -> CallRecord:
    """紧急转接: the agent on the call (or a supervisor) marks it for an emergency hand-over.

    The record keeps the mark (`emergency`, first `emergency_at`); the hand-over to
    110/119/120/122 itself is callcenter/linkage.py's.
    """
    record = await find_call(app, call_id)
    if actor.role == Role.AGENT and record.agent != actor.username:
        raise CallNotFound(call_id)  # another agent's call is not revealed
    center = app.get(CALLCENTER)
    if center is None or not await center.mark_emergency(call_id):
        async with unit_of_work(app[SESSIONS]) as session:
            row = await storage.get_call(session, call_id)
            row.emergency = True
            row.emergency_at = row.emergency_at or app[DISPATCH].now()
    log.warning("call %s marked as an emergency by %s", call_id, actor.username)
    return await find_call(app, call_id)


async def recording_file(app: web.Application, actor: Actor, call_id: str) -> Path:
    """The WAV of a call, for users who may see its order (or, without one, the call)."""
    record = await find_call(app, call_id)
    if record.order_number is not None:
        # Raises OrderNotFound (404) for users the order is hidden from.
        await app[DISPATCH].get(actor, record.order_number)
    elif not may_see_call(actor, record):
        raise CallNotFound(call_id)
    if record.recording is None or record.ended_at is None:
        raise CallNotFound(call_id, "录音不存在或通话尚未结束")
    path = resolve(app[SETTINGS].sip.recordings_path, record.recording)
    if not path.is_file():  # removed by the retention setting
        raise CallNotFound(call_id, "录音已按保存期限删除")
    return path


def may_see_call(actor: Actor, record: CallRecord) -> bool:
    if actor.role not in CALL_ROLES:
        return False
    if actor.role == Role.AGENT and record.agent != actor.username:
        return False
    return not actor.hotlines or record.hotline in actor.hotlines


QUEUES = frozenset({GENERAL_QUEUE, *(queue for queue, _label in TOPICS.values())})


async def transfer(
    app: web.Application, actor: Actor, call_id: str, agent: str | None, queue: str | None
) -> None:
    """转接: the agent on the call hands it to another agent or to a queue (blind)."""
    center = app.get(CALLCENTER)
    found = None if center is None else center.active_record(call_id)
    if found is None or found[1].agent != actor.username:
        raise CallNotFound(call_id, "通话不存在或不在您的线路上")
    if queue is not None and queue not in QUEUES:
        raise InvalidInput(f"队列 {queue} 不存在")
    to_agent = None
    if agent is not None:
        to_agent = await user_id_of(app[SESSIONS], agent)
        target = center.acd.agents.get(to_agent)
        signed_out = target is None or target.state is agents.AgentState.LOGGED_OUT
        if signed_out or agent == actor.username:
            raise InvalidInput(f"坐席 {agent} 未签入,不能转接")
    center.transfer(call_id, queue or found[1].queue or GENERAL_QUEUE, to_agent)


# ------------------------------------------------------------------ 三方通话


async def _own_live_call(app: web.Application, actor: Actor, call_id: str):
    """The intake and the call `call_id` of this agent, in progress; else 404 / 409."""
    record = await find_call(app, call_id)  # CallNotFound: no such call
    if record.agent != actor.username:
        raise CallNotFound(call_id, "通话不存在或不在您的线路上")
    center = app.get(CALLCENTER)
    if center is None or center.active_record(call_id) is None:
        raise ConferenceNotPossible("通话已结束,不能进行三方通话")
    return center


async def add_unit(
    app: web.Application, actor: Actor, call_id: str, uri: str, unit: str | None
) -> dict[str, Any]:
    """三方通话: the agent on the call adds a unit's phone (a SIP URI; the unit's code,
    if given, must name an active unit and is recorded on the call)."""
    uri = agents.valid_sip_uri(uri.strip())
    center = await _own_live_call(app, actor, call_id)
    if unit is not None:
        async with app[SESSIONS]() as session:
            known = await session.scalar(
                select(Unit.code).where(Unit.code == unit, Unit.active.is_(True))
            )
        if known is None:
            raise InvalidInput(f"承办单位 {unit} 不存在")
    unit_leg = center.add_unit(call_id, uri, unit)
    log.info("call %s: %s adds unit %s (%s)", call_id, actor.username, unit or "-", uri)
    return conference_view(call_id, unit_leg, "ringing")


async def end_unit(app: web.Application, actor: Actor, call_id: str) -> dict[str, Any]:
    """结束三方: the unit's leg ends, the caller and the agent talk on."""
    center = await _own_live_call(app, actor, call_id)
    unit_leg = center.end_unit(call_id)
    return conference_view(call_id, unit_leg, "ending")


def conference_view(call_id: str, unit_leg, state: str) -> dict[str, Any]:
    return {"call": call_id, "uri": unit_leg.uri, "unit": unit_leg.unit, "state": state}
