"""回访电话: the automated satisfaction call for orders waiting for a callback.

    pending ──dial──▶ calling ──1/2/3, then 1/2──▶ done (the `callback` action written)
       ▲                 │ busy / no answer / no keys
       └── retry later ──┤ (after `survey_retry_minutes`, `survey_attempts` in all)
                         └──▶ sms ──▶ sms_sent ──1/2/3 by SMS──▶ done
                              (integrations/sms/services.py sends the SMS survey and
                               records the answer)

`SurveyCall` is the pure key-collecting state machine of one call (question 1: 1 满意,
2 基本满意, 3 不满意; question 2: 1 已解决, 2 未解决; a wrong key or silence replays the
question once, then the call ends as "no input"). `SurveyDialer` finds the orders in
`callback_pending` taken by phone, places the calls within calling hours (the call
itself is callcenter/outbound.py's, shared with the campaigns), and writes the result
through the DispatchService.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import SYSTEM_ACTOR, Actor
from app.db import unit_of_work
from app.errors import AppError
from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from callcenter.outbound import OutboundDialer, OutboundLeg, settle_unanswered, start_attempts
from callcenter.prompts import prompt_file
from callcenter.storage import SurveyCall as SurveyRow
from config import SipSettings
from dispatch.lifecycle import Satisfaction, State
from dispatch.services import DispatchService
from dispatch.storage import Order

log = logging.getLogger(__name__)

Q1, Q2, THANKS = "survey_q1", "survey_q2", "survey_thanks"
KEY_TIMER = "survey_key"
KEY_TIMEOUT_SECONDS = 6.0
SATISFACTION_KEYS = {
    "1": Satisfaction.SATISFIED,
    "2": Satisfaction.BASIC,
    "3": Satisfaction.DISSATISFIED,
}
RESOLVED_KEYS = {"1": True, "2": False}
PHONE_CHANNEL = "phone"
NOTE = "自动语音回访"


def survey_actor() -> Actor:
    """`system` writes the callback: the citizen's keypresses, recorded by the dialer."""
    return SYSTEM_ACTOR


class SurveyPhase(StrEnum):
    WAITING = "waiting"  # dialled, not yet talking
    SATISFACTION = "satisfaction"
    RESOLVED = "resolved"
    DONE = "done"


@dataclass(frozen=True)
class SurveyAnswered:
    satisfaction: Satisfaction
    resolved: bool


@dataclass
class SurveyCall:
    """The keys of one survey call (pure: actions out, no SIP)."""

    key_timeout: float = KEY_TIMEOUT_SECONDS
    phase: SurveyPhase = SurveyPhase.WAITING
    satisfaction: Satisfaction | None = None
    resolved: bool | None = None
    retries: int = 0  # replays of the current question

    def start(self) -> list:
        if self.phase is not SurveyPhase.WAITING:
            return []
        self.phase = SurveyPhase.SATISFACTION
        return [Play((Q1,))]

    def prompt_finished(self, prompt: str) -> list:
        if prompt == THANKS:
            return [Hangup()]
        if self.phase in (SurveyPhase.SATISFACTION, SurveyPhase.RESOLVED):
            return [StartTimer(KEY_TIMER, self.key_timeout)]
        return []

    def digit(self, digit: str) -> list:
        if self.phase is SurveyPhase.SATISFACTION:
            if digit not in SATISFACTION_KEYS:
                return self._again(Q1)
            self.satisfaction = SATISFACTION_KEYS[digit]
            self.phase, self.retries = SurveyPhase.RESOLVED, 0
            return [CancelTimer(KEY_TIMER), Play((Q2,))]
        if self.phase is SurveyPhase.RESOLVED:
            if digit not in RESOLVED_KEYS:
                return self._again(Q2)
            self.resolved = RESOLVED_KEYS[digit]
            self.phase = SurveyPhase.DONE
            answer = SurveyAnswered(self.satisfaction, self.resolved)
            return [CancelTimer(KEY_TIMER), answer, Play((THANKS,))]
        return []

    def timer(self, kind: str) -> list:
        if kind != KEY_TIMER or self.phase not in (SurveyPhase.SATISFACTION, SurveyPhase.RESOLVED):
            return []
        return self._again(Q1 if self.phase is SurveyPhase.SATISFACTION else Q2)

    def _again(self, question: str) -> list:
        self.retries += 1
        if self.retries > 1:
            self.phase = SurveyPhase.DONE
            return [CancelTimer(KEY_TIMER), Hangup()]
        return [CancelTimer(KEY_TIMER), Play((question,))]


def in_calling_hours(local: datetime, hours: tuple[int, int]) -> bool:
    start, end = hours
    return start <= local.hour < end


@dataclass(frozen=True)
class SurveyTarget:
    row_id: int
    order_number: str


class SurveyDialer(OutboundDialer):
    """Places survey calls from the intake and records their outcome."""

    rows = SurveyRow
    name = "survey"

    def __init__(
        self,
        center,  # callcenter.service.CallCenter (its endpoint places the calls)
        dispatch: DispatchService,
        sessions: async_sessionmaker[AsyncSession],
        settings: SipSettings,
    ) -> None:
        super().__init__(center, sessions, settings, dispatch.now)
        self.dispatch = dispatch

    async def run_once(self) -> int:
        """Queue new orders for a survey and place the calls that are due; how many."""
        if not self.ready:
            return 0
        now = self.now()
        async with unit_of_work(self.sessions) as session:
            await self._add_new_orders(session, now)
            if not in_calling_hours(now.astimezone(self.dispatch.tz), self.settings.survey_hours):
                return 0
            room = self.settings.survey_max_calls - self.active
            if room <= 0:
                return 0
            due = list(
                await session.scalars(
                    select(SurveyRow)
                    .where(SurveyRow.state == "pending", SurveyRow.next_attempt_at <= now)
                    .order_by(SurveyRow.next_attempt_at, SurveyRow.id)
                    .limit(room)
                )
            )
            start_attempts(due, now)
            calls = [(SurveyTarget(row.id, row.order_number), row.phone) for row in due]
        for target, phone in calls:
            self.dial(phone, SurveyCall(), target, [("X-Order", target.order_number)])
        return len(calls)

    async def _add_new_orders(self, session: AsyncSession, now: datetime) -> None:
        surveyed = select(SurveyRow.order_number)
        orders = await session.execute(
            select(Order.number, Order.caller_phone).where(
                Order.state == State.CALLBACK_PENDING.value,
                Order.channel == PHONE_CHANNEL,
                Order.caller_phone.is_not(None),
                Order.number.not_in(surveyed),
            )
        )
        for number, phone in orders:
            session.add(
                SurveyRow(
                    order_number=number,
                    phone=phone,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()

    def prompt_files(self, call: OutboundLeg, prompts: tuple[str, ...]) -> list[Path]:
        files = [prompt_file(self.settings.prompts_path, "", name) for name in prompts]
        return [path for path in files if path is not None]

    async def record(self, call: OutboundLeg, how: str) -> None:
        target: SurveyTarget = call.about
        keys: SurveyCall = call.call
        now = self.now()
        answered = keys.resolved is not None
        state, result = "", how[:40] or "no answer"
        if answered:
            payload = {"satisfaction": keys.satisfaction.value, "resolved": keys.resolved}
            try:
                await self.dispatch.act(
                    survey_actor(), target.order_number, "callback", {**payload, "note": NOTE}
                )
                state, result = "done", "answered"
                self.answered += 1
            except AppError as exc:  # the order moved on meanwhile, say
                log.warning("survey of %s not written: %s", target.order_number, exc)
                state, result = "failed", exc.code[:40]
        async with unit_of_work(self.sessions) as session:
            row = await session.get(SurveyRow, target.row_id)
            if row is None:
                return
            if answered:
                row.satisfaction, row.resolved = keys.satisfaction.value, keys.resolved
                row.state, row.updated_at = state, now
            else:  # integrations/sms sends the SMS survey once the attempts are spent
                retry = self.settings.survey_retry_minutes
                settle_unanswered(row, self.settings.survey_attempts, retry, now, "sms")
            row.last_result = result
            state = row.state
        log.info("survey of %s: %s (%s)", target.order_number, state, result)
