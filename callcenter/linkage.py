"""应急联动: an emergency call handed over to 110/119/120/122 (DESIGN §8).

The agent on a call (or a supervisor) hands the caller over to the configured gateway of
an emergency service (`[linkage] gateways`): the intake dials the gateway from its own
account and, when it answers, joins it to the call in the conference bridge:

- `conference` (三方): caller, agent and gateway hear each other; the agent may stay on
  to brief the operator and leave later (then the whole call ends, as in 三方通话).
- `transfer` (转接): as soon as the gateway's audio is joined the agent's leg is hung up
  (the agent goes to wrap-up); the caller stays connected to the gateway through the
  bridge (our B2BUA holds the caller's leg, so no SIP REFER); either of the two hanging
  up ends the other.

Each hand-over is a row in `handovers` (what: service, gateway, mode; to whom; when:
requested, answered, ended; by whom; outcome answered | busy | no_answer | failed, or
manual for one made by other means, e.g. by phone, recorded on the order page), an
event `linkage` on the order (when the call has one) and an audit line. The time from
the call's emergency mark (`calls.emergency_at`) to the gateway's answer is the
figure the benchmark measures. A gateway that is busy, does not answer within
`ring_timeout_seconds` or cannot be reached leaves the call as it was (the agent is
told on the console and may retry or call by phone and record it by hand).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from accounts.audit import Event as AuditEvent
from accounts.audit import Result, Trail
from accounts.domain import Actor, Role
from app.db import unit_of_work
from app.errors import AppError
from app.keys import CALLCENTER, DISPATCH, SESSIONS, SETTINGS
from callcenter import desk, storage
from callcenter.exceptions import CallNotFound, LinkageNotPossible
from config import LINKAGE_SERVICES

log = logging.getLogger(__name__)

SERVICES = {"110": "公安 110", "119": "消防 119", "120": "急救 120", "122": "交警 122"}
assert tuple(SERVICES) == LINKAGE_SERVICES
MODES = {"transfer": "转接", "conference": "三方通话"}

ANSWERED, BUSY, NO_ANSWER, FAILED, MANUAL = "answered", "busy", "no_answer", "failed", "manual"
OUTCOMES = {
    ANSWERED: "已接通",
    BUSY: "忙线",
    NO_ANSWER: "无应答",
    FAILED: "未能接通",
    MANUAL: "已通过其他方式移交",
}
BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})
REQUEST_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
RECORD_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR})
NOTE_MAX = 500


def outcome_of(status_code: int) -> str:
    """The outcome of a gateway leg that ended without an answer, from its SIP status."""
    if status_code in BUSY_CODES:
        return BUSY
    if status_code in NO_ANSWER_CODES:
        return NO_ANSWER
    return FAILED


@dataclass(frozen=True)
class Handover:
    """One hand-over (移交记录): what, to whom, when, by whom, and how it went."""

    id: str
    service: str
    requested_by: str
    requested_at: datetime
    call_id: str | None = None
    order_number: str | None = None
    gateway_uri: str | None = None
    mode: str | None = None  # transfer | conference; None: by other means (manual)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None  # None while the gateway rings
    note: str = ""
    requested_role: str = Role.AGENT.value  # the order event's actor role (not stored)

    @property
    def label(self) -> str:
        return SERVICES[self.service]


def requested(
    service: str, uri: str, mode: str, by: Actor, at: datetime, call_id: str, order: str | None
) -> Handover:
    return Handover(
        uuid.uuid4().hex, service, by.username, at, call_id, order, uri, mode,
        requested_role=by.role.value,
    )  # fmt: skip


def answered(handover: Handover, at: datetime) -> Handover:
    return replace(handover, answered_at=max(at, handover.requested_at), outcome=ANSWERED)


def ended(handover: Handover, at: datetime, outcome: str | None = None) -> Handover:
    """The gateway's leg ended: after an answer, or without one (`outcome`)."""
    return replace(
        handover, ended_at=max(at, handover.requested_at), outcome=handover.outcome or outcome
    )


# ------------------------------------------------------------------ storage, order log


def to_row(handover: Handover) -> dict[str, Any]:
    return {
        "id": handover.id,
        "order_number": handover.order_number,
        "call_id": handover.call_id,
        "service": handover.service,
        "gateway_uri": handover.gateway_uri,
        "mode": handover.mode,
        "requested_by": handover.requested_by,
        "requested_at": handover.requested_at,
        "answered_at": handover.answered_at,
        "ended_at": handover.ended_at,
        "outcome": handover.outcome,
        "note": handover.note,
    }


def order_note(handover: Handover) -> str:
    how = MODES.get(handover.mode or "", "其他方式")
    outcome = OUTCOMES.get(handover.outcome or "", "呼叫中")
    note = f"应急联动:{handover.label}({how}),{outcome}"
    return f"{note}。{handover.note}" if handover.note else note


async def write_order_event(app: web.Application, handover: Handover) -> None:
    """The hand-over on the order's log (action `linkage`; the state is unchanged)."""
    if handover.order_number is None:
        return
    actor = Actor(handover.requested_by, Role(handover.requested_role))
    data = {
        "handover": handover.id,
        "service": handover.service,
        "mode": handover.mode,
        "outcome": handover.outcome,
        "gateway": handover.gateway_uri,
        "call": handover.call_id,
    }
    await app[DISPATCH].note(actor, handover.order_number, "linkage", order_note(handover), data)


class HandoverLog:
    """The intake's `on_handover` hook: each change of a live hand-over is written in
    order by one task (the row; the order event once the outcome is known)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._queue: asyncio.Queue[Handover] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def __call__(self, handover: Handover) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="handovers")
        self._queue.put_nowait(handover)

    async def _run(self) -> None:
        logged: set[str] = set()  # hand-overs whose order event is written
        while True:
            handover = await self._queue.get()
            try:
                async with unit_of_work(self.app[SESSIONS]) as session:
                    await session.merge(storage.Handover(**to_row(handover)))
                if handover.outcome is not None and handover.id not in logged:
                    logged.add(handover.id)
                    await write_order_event(self.app, handover)
                if handover.ended_at is not None:  # its last change
                    logged.discard(handover.id)
            except Exception:  # the database refused: log it, keep handling calls
                log.exception("could not write hand-over %s", handover.id)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


HANDOVER_LOG = web.AppKey("handover_log", HandoverLog)


# ------------------------------------------------------------------ use cases


async def flush(app: web.Application) -> None:
    """Wait until the live hand-overs' changes so far are written."""
    if HANDOVER_LOG in app:
        await app[HANDOVER_LOG].flush()


def view(handover: Handover | storage.Handover, emergency_at: datetime | None = None) -> dict:
    """A hand-over as the API shows it; `seconds_from_mark`: emergency mark → answer."""
    since = None
    if emergency_at is not None and handover.answered_at is not None:
        since = round((handover.answered_at - emergency_at).total_seconds(), 3)
    return {
        "id": handover.id,
        "service": handover.service,
        "service_label": SERVICES.get(handover.service, handover.service),
        "gateway_uri": handover.gateway_uri,
        "mode": handover.mode,
        "call": handover.call_id,
        "order": handover.order_number,
        "requested_by": handover.requested_by,
        "requested_at": handover.requested_at,
        "answered_at": handover.answered_at,
        "ended_at": handover.ended_at,
        "outcome": handover.outcome,
        "outcome_label": OUTCOMES.get(handover.outcome or "", "呼叫中"),
        "note": handover.note,
        "seconds_from_mark": since,
    }


async def hand_over(
    app: web.Application,
    actor: Actor,
    audit: Trail,
    call_id: str,
    service: str,
    mode: str | None,
) -> dict[str, Any]:
    """转110/119/120/122: dial the service's gateway and join it to the call (or, with
    `transfer`, hand the caller over and drop the agent). Nothing changes on refusal;
    the request or its refusal is an audit line (written after it: the call records'
    writer must not wait behind an open audit transaction on SQLite's one writer)."""
    detail: dict[str, Any] = {"service": service, "mode": mode}
    try:
        record = await desk.find_call(app, call_id)  # CallNotFound: no such call
        if not desk.may_see_call(actor, record):
            raise CallNotFound(call_id, "通话不存在或不在您的线路上")
        settings = app[SETTINGS].linkage
        uri = settings.gateways.get(service, "")
        if not uri:
            raise LinkageNotPossible(f"未配置{SERVICES[service]}的联动网关,请电话联系后手工登记")
        center = app.get(CALLCENTER)
        if center is None or center.active_record(call_id) is None:
            raise LinkageNotPossible("通话已结束,不能转接,请电话联系后在工单上登记")
        mode = mode or settings.mode
        handover = center.hand_over(
            call_id, service, uri, mode, settings.ring_timeout_seconds, actor
        )
    except AppError as exc:
        failed = {**detail, "error": exc.code, "message": exc.message}
        await audit.alone(AuditEvent.LINKAGE, call_id, Result.FAILURE, failed)
        raise
    await center.mark_emergency(call_id)  # if not marked before: the clock starts now
    log.warning("call %s: %s hands over to %s (%s)", call_id, actor.username, service, mode)
    detail.update(mode=mode, gateway=uri, handover=handover.id)
    await audit.alone(AuditEvent.LINKAGE, call_id, detail=detail)
    await flush(app)
    return view(handover)


async def for_call(app: web.Application, actor: Actor, call_id: str) -> list[dict]:
    record = await desk.find_call(app, call_id)
    if not desk.may_see_call(actor, record):
        raise CallNotFound(call_id, "通话不存在或不在您的线路上")
    await flush(app)
    async with app[SESSIONS]() as session:
        rows = await session.scalars(
            select(storage.Handover)
            .where(storage.Handover.call_id == call_id)
            .order_by(storage.Handover.requested_at)
        )
        return [view(row, record.emergency_at) for row in rows]


async def for_order(app: web.Application, actor: Actor, number: str) -> list[dict]:
    """The order's hand-overs (users who may see the order; OrderNotFound otherwise)."""
    await app[DISPATCH].get(actor, number)
    await flush(app)
    async with app[SESSIONS]() as session:
        rows = list(
            await session.scalars(
                select(storage.Handover)
                .where(storage.Handover.order_number == number)
                .order_by(storage.Handover.requested_at)
            )
        )
        marks = dict(
            (
                await session.execute(
                    select(storage.Call.id, storage.Call.emergency_at).where(
                        storage.Call.id.in_([r.call_id for r in rows if r.call_id])
                    )
                )
            ).all()
        )
    return [view(row, marks.get(row.call_id)) for row in rows]


async def record_manual(
    app: web.Application, actor: Actor, audit: Trail, number: str, service: str, note: str
) -> dict[str, Any]:
    """手工登记: a hand-over made by other means (e.g. by phone), recorded on the order."""
    detail = {"service": service, "order": number, "outcome": MANUAL}
    async with audit.act(AuditEvent.LINKAGE, number, detail) as (session, act):
        await app[DISPATCH].get(actor, number)  # OrderNotFound: hidden from the actor
        handover = Handover(
            uuid.uuid4().hex, service, actor.username, app[DISPATCH].now(),
            order_number=number, outcome=MANUAL, note=note.strip()[:NOTE_MAX],
            requested_role=actor.role.value,
        )  # fmt: skip
        session.add(storage.Handover(**to_row(handover)))
        act.detail["handover"] = handover.id
    await write_order_event(app, handover)
    return view(handover)


async def attach_order(app: web.Application, call_id: str, number: str) -> int:
    """The order registered during the call gets the call's earlier hand-overs (those
    with an outcome go on its log now; a live one's outcome will follow). How many."""
    await flush(app)  # a live hand-over carries the order from now on (CallCenter.link_order)
    async with unit_of_work(app[SESSIONS]) as session:
        rows = list(
            await session.scalars(
                select(storage.Handover).where(
                    storage.Handover.call_id == call_id, storage.Handover.order_number.is_(None)
                )
            )
        )
        for row in rows:
            row.order_number = number
    for row in rows:
        if row.outcome is not None:
            await write_order_event(app, from_row(row))
    return len(rows)


def from_row(row: storage.Handover) -> Handover:
    return Handover(
        **{column.name: getattr(row, column.name) for column in storage.Handover.__table__.c}
    )
