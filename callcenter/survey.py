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
`callback_pending` taken by phone, places the calls from the intake within calling
hours, and writes the result through the DispatchService.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import SYSTEM_ACTOR, Actor
from app.db import unit_of_work
from app.errors import AppError
from callcenter import events as ev
from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from callcenter.prompts import prompt_file
from callcenter.storage import SurveyCall as SurveyRow
from config import SipSettings
from dispatch.lifecycle import Satisfaction, State
from dispatch.services import DispatchService
from dispatch.storage import Order

log = logging.getLogger(__name__)

Q1, Q2, THANKS = "survey_q1", "survey_q2", "survey_thanks"
KEY_TIMER = "survey_key"
RING_TIMER = "survey_ring"
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


@dataclass
class SurveyLeg:
    leg: int
    row_id: int
    order_number: str
    call: SurveyCall
    confirmed: bool = False
    media: bool = False
    token: int = 0
    prompt: str = ""
    answer: SurveyAnswered | None = None
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)


class SurveyDialer:
    """Places survey calls from the intake and records their outcome."""

    def __init__(
        self,
        center,  # callcenter.service.CallCenter (its endpoint places the calls)
        dispatch: DispatchService,
        sessions: async_sessionmaker[AsyncSession],
        settings: SipSettings,
    ) -> None:
        self.center = center
        self.dispatch = dispatch
        self.sessions = sessions
        self.settings = settings
        self._legs: dict[int, SurveyLeg] = {}
        self._tokens = 0
        self._tasks: set[asyncio.Task] = set()
        self.answered = 0

    # ------------------------------------------------------------ scheduling

    async def run_once(self) -> int:
        """Queue new orders for a survey and place the calls that are due; how many."""
        if not self.settings.survey_uri or not self.center.endpoint.running:
            return 0
        now = self.dispatch.now()
        async with unit_of_work(self.sessions) as session:
            await self._add_new_orders(session, now)
            if not in_calling_hours(now.astimezone(self.dispatch.tz), self.settings.survey_hours):
                return 0
            room = self.settings.survey_max_calls - len(self._legs)
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
            for row in due:
                row.state, row.attempts, row.updated_at = "calling", row.attempts + 1, now
            calls = [(row.id, row.order_number, row.phone) for row in due]
        for row_id, number, phone in calls:
            self._dial(row_id, number, phone)
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

    # ------------------------------------------------------------ one call

    @property
    def active(self) -> int:
        return len(self._legs)

    def owns(self, leg: int | None) -> bool:
        return leg in self._legs

    def _dial(self, row_id: int, number: str, phone: str) -> None:
        endpoint = self.center.endpoint
        leg = endpoint.new_leg()
        survey = SurveyLeg(leg, row_id, number, SurveyCall())
        self._legs[leg] = survey
        uri = self.settings.survey_uri.format(phone=phone)
        log.info("survey call for order %s to %s", number, uri)
        endpoint.dial(leg, uri, [("X-Order", number)])
        loop = asyncio.get_running_loop()
        survey.timers[RING_TIMER] = loop.call_later(
            self.settings.survey_ring_seconds, self._ring_timeout, leg
        )

    def _ring_timeout(self, leg: int) -> None:
        survey = self._legs.get(leg)
        if survey is not None and not survey.confirmed:
            self.center.endpoint.hangup(leg)

    def on_event(self, event: ev.BridgeEvent) -> None:
        survey = self._legs.get(event.leg)
        if survey is None:
            return
        match event:
            case ev.CallConfirmed():
                survey.confirmed = True
                self._cancel(survey, RING_TIMER)
                self._maybe_start(survey)
            case ev.MediaStarted():
                survey.media = True
                self._maybe_start(survey)
            case ev.DtmfReceived(digit=digit):
                self._run(survey, survey.call.digit(digit))
            case ev.PromptFinished(token=token) if token == survey.token:
                self._run(survey, survey.call.prompt_finished(survey.prompt))
            case ev.CommandFailed(command="play"):
                self._run(survey, survey.call.prompt_finished(survey.prompt))
            case ev.CallDisconnected(status_code=code, reason=reason):
                self._ended(survey, f"{code} {reason}".strip())
            case ev.CommandFailed(command="dial", reason=reason):
                self._ended(survey, f"dial failed: {reason}"[:40])

    def _maybe_start(self, survey: SurveyLeg) -> None:
        if survey.confirmed and survey.media:
            self._run(survey, survey.call.start())

    def _run(self, survey: SurveyLeg, actions: list) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            match action:
                case Play(prompts=prompts):
                    self._play(survey, prompts)
                case StartTimer(kind=kind, seconds=seconds):
                    self._cancel(survey, kind)
                    survey.timers[kind] = loop.call_later(seconds, self._timer, survey.leg, kind)
                case CancelTimer(kind=kind):
                    self._cancel(survey, kind)
                case SurveyAnswered():
                    survey.answer = action
                case Hangup():
                    self.center.endpoint.hangup(survey.leg)

    def _play(self, survey: SurveyLeg, prompts: tuple[str, ...]) -> None:
        files = [prompt_file(self.settings.prompts_path, "", name) for name in prompts]
        self._tokens += 1
        survey.token, survey.prompt = self._tokens, prompts[-1]
        found = [path for path in files if path is not None]
        if found:
            self.center.endpoint.play(survey.leg, found, token=survey.token)
        else:
            log.warning("no survey prompt %s (python -m callcenter.prompts)", prompts)
            asyncio.get_running_loop().call_soon(
                self.on_event, ev.PromptFinished(survey.leg, survey.token)
            )

    def _timer(self, leg: int, kind: str) -> None:
        survey = self._legs.get(leg)
        if survey is not None:
            survey.timers.pop(kind, None)
            self._run(survey, survey.call.timer(kind))

    @staticmethod
    def _cancel(survey: SurveyLeg, kind: str) -> None:
        handle = survey.timers.pop(kind, None)
        if handle is not None:
            handle.cancel()

    def _ended(self, survey: SurveyLeg, how: str) -> None:
        self._legs.pop(survey.leg, None)
        for handle in survey.timers.values():
            handle.cancel()
        task = asyncio.get_running_loop().create_task(self._record(survey, how))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("survey result not recorded", exc_info=task.exception())

    async def _record(self, survey: SurveyLeg, how: str) -> None:
        now = self.dispatch.now()
        answer, state, result = survey.answer, "pending", how[:40] or "no answer"
        if answer is not None:
            payload = {
                "satisfaction": answer.satisfaction.value,
                "resolved": answer.resolved,
                "note": NOTE,
            }
            try:
                await self.dispatch.act(survey_actor(), survey.order_number, "callback", payload)
                state, result = "done", "answered"
                self.answered += 1
            except AppError as exc:  # the order moved on meanwhile, say
                log.warning("survey of %s not written: %s", survey.order_number, exc)
                state, result = "failed", exc.code[:40]
        async with unit_of_work(self.sessions) as session:
            row = await session.get(SurveyRow, survey.row_id)
            if row is None:
                return
            if answer is not None:
                row.satisfaction, row.resolved = answer.satisfaction.value, answer.resolved
            elif row.attempts >= self.settings.survey_attempts:
                state = "sms"  # integrations/sms sends the SMS survey
            row.state, row.last_result, row.updated_at = state, result, now
            row.next_attempt_at = now + timedelta(minutes=self.settings.survey_retry_minutes)
        log.info("survey of %s: %s (%s)", survey.order_number, state, result)

    async def wait_idle(self) -> None:
        """Until no survey call is up and every result is written (tests, shut-down)."""
        while self._legs or self._tasks:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_dialer(dialer: SurveyDialer, interval: float) -> None:
    """The background loop: every `interval` seconds, place the survey calls due."""
    while True:
        try:
            await dialer.run_once()
        except Exception:  # the database is down, say: log and try again later
            log.exception("survey dialer round failed")
        await asyncio.sleep(interval)
