"""外呼: the shell every outbound call shares (回访 survey calls, 外呼任务 campaigns).

A dialer places calls from the intake through `[sip] survey_uri` (the outbound gateway),
owns their legs (the CallCenter hands it their events), plays prompts, feeds keys and
timers to the call's pure key machine, hangs up, and writes the outcome when the call
ends. What it asks and where the answer goes is the kind's business:

    callcenter/survey.py     SurveyDialer: the satisfaction callback of an order
    callcenter/campaigns.py  CampaignDialer: a campaign's DTMF questionnaire

A key machine has `start()`, `prompt_finished(prompt)`, `digit(key)` and `timer(kind)`,
each returning the actions of callcenter/ivr.py (Play, StartTimer, CancelTimer, Hangup;
others are ignored here). Rows to call have `state`, `attempts` and `next_attempt_at`:
pending ──dial──▶ calling ──answered──▶ done, or pending again after a retry delay until
the attempts are spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from callcenter import events as ev
from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from config import SipSettings

log = logging.getLogger(__name__)

RING_TIMER = "outbound_ring"
PROMPT_TIMER = "outbound_prompt"
# A prompt's end is reported by the media clock (PromptFinished). Under load a report
# was seen to go missing (the call then waited for ever, its answers never written):
# past the prompt's length and this grace, the dialer takes it as finished.
PROMPT_GRACE_SECONDS = 3.0


@dataclass
class OutboundLeg:
    """One outbound call up: its key machine and what it is about (the kind's ids)."""

    leg: int
    call: Any  # the key machine
    about: Any  # e.g. the survey row's id and order number
    confirmed: bool = False
    media: bool = False
    token: int = 0
    prompt: str = ""
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)


def wav_seconds(path: Path) -> float:
    """How long a prompt plays (0 if it cannot be read: the grace covers it)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error):
        return 0.0


def start_attempts(rows: Iterable, now: datetime) -> None:
    """The rows about to be called: `calling`, one attempt more."""
    for row in rows:
        row.state, row.attempts, row.updated_at = "calling", row.attempts + 1, now


def settle_unanswered(row, attempts: int, retry_minutes: float, now: datetime, spent: str) -> None:
    """No answer this time: due again after `retry_minutes`, or `spent` after `attempts`."""
    row.updated_at = now
    if row.attempts >= attempts:
        row.state = spent
    else:
        row.state = "pending"
        row.next_attempt_at = now + timedelta(minutes=retry_minutes)


class OutboundDialer:
    """Base of the dialers: subclasses give `rows` (their table), `prompt_files`,
    `record` and `run_once`."""

    rows: type  # the ORM model of the numbers to call (state, attempts, next_attempt_at)
    name = "outbound"

    def __init__(
        self,
        center,  # callcenter.service.CallCenter (its endpoint places the calls)
        sessions: async_sessionmaker[AsyncSession],
        settings: SipSettings,
        now: Callable[[], datetime],
    ) -> None:
        self.center = center
        self.sessions = sessions
        self.settings = settings
        self.now = now
        self._legs: dict[int, OutboundLeg] = {}
        self._tokens = 0
        self._tasks: set[asyncio.Task] = set()
        self.answered = 0
        self.prompts_overdue = 0  # prompts whose end was never reported (see above)

    # ------------------------------------------------------------ the kind's part

    def prompt_files(self, call: OutboundLeg, prompts: tuple[str, ...]) -> list[Path]:
        raise NotImplementedError

    async def record(self, call: OutboundLeg, how: str) -> None:
        """Write the outcome of the ended call (`how`: the SIP status, say)."""
        raise NotImplementedError

    async def run_once(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------ shared

    @property
    def ready(self) -> bool:
        return bool(self.settings.survey_uri) and self.center.endpoint.running

    @property
    def active(self) -> int:
        return len(self._legs)

    def owns(self, leg: int | None) -> bool:
        return leg in self._legs

    def up(self, about) -> int:
        """Calls up whose `about` matches (e.g. of one campaign)."""
        return sum(1 for call in self._legs.values() if about(call.about))

    async def recover(self) -> None:
        """At start-up: rows left `calling` by a stopped process are due again."""
        async with unit_of_work(self.sessions) as session:
            await session.execute(
                update(self.rows)
                .where(self.rows.state == "calling")
                .values(state="pending", next_attempt_at=self.now())
            )

    def dial(self, phone: str, call, about, headers: list[tuple[str, str]]) -> None:
        endpoint = self.center.endpoint
        leg = endpoint.new_leg()
        out = OutboundLeg(leg, call, about)
        self._legs[leg] = out
        uri = self.settings.survey_uri.format(phone=phone)
        log.info("%s call %s to %s", self.name, about, uri)
        endpoint.dial(leg, uri, headers)
        out.timers[RING_TIMER] = asyncio.get_running_loop().call_later(
            self.settings.survey_ring_seconds, self._ring_timeout, leg
        )

    def _ring_timeout(self, leg: int) -> None:
        call = self._legs.get(leg)
        if call is not None and not call.confirmed:
            self.center.endpoint.hangup(leg)

    def on_event(self, event: ev.BridgeEvent) -> None:
        call = self._legs.get(event.leg)
        if call is None:
            return
        match event:
            case ev.CallConfirmed():
                call.confirmed = True
                self._cancel(call, RING_TIMER)
                self._maybe_start(call)
            case ev.MediaStarted():
                call.media = True
                self._maybe_start(call)
            case ev.DtmfReceived(digit=digit):
                self._run(call, call.call.digit(digit))
            case ev.PromptFinished(token=token) if token == call.token:
                self._cancel(call, PROMPT_TIMER)
                self._run(call, call.call.prompt_finished(call.prompt))
            case ev.CommandFailed(command="play"):
                self._cancel(call, PROMPT_TIMER)
                self._run(call, call.call.prompt_finished(call.prompt))
            case ev.CallDisconnected(status_code=code, reason=reason):
                self._ended(call, f"{code} {reason}".strip())
            case ev.CommandFailed(command="dial", reason=reason):
                self._ended(call, f"dial failed: {reason}"[:40])

    def _maybe_start(self, call: OutboundLeg) -> None:
        if call.confirmed and call.media:
            self._run(call, call.call.start())

    def _run(self, call: OutboundLeg, actions: list) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            match action:
                case Play(prompts=prompts):
                    self._play(call, prompts)
                case StartTimer(kind=kind, seconds=seconds):
                    self._cancel(call, kind)
                    call.timers[kind] = loop.call_later(seconds, self._timer, call.leg, kind)
                case CancelTimer(kind=kind):
                    self._cancel(call, kind)
                case Hangup():
                    self.center.endpoint.hangup(call.leg)

    def _play(self, call: OutboundLeg, prompts: tuple[str, ...]) -> None:
        self._tokens += 1
        call.token, call.prompt = self._tokens, prompts[-1]
        files = self.prompt_files(call, prompts)
        if files:
            self.center.endpoint.play(call.leg, files, token=call.token)
            seconds = sum(wav_seconds(path) for path in files) + PROMPT_GRACE_SECONDS
            self._cancel(call, PROMPT_TIMER)
            call.timers[PROMPT_TIMER] = asyncio.get_running_loop().call_later(
                seconds, self._prompt_overdue, call.leg, call.token
            )
        else:
            log.warning("%s call %s: no prompt %s", self.name, call.about, prompts)
            asyncio.get_running_loop().call_soon(
                self.on_event, ev.PromptFinished(call.leg, call.token)
            )

    def _prompt_overdue(self, leg: int, token: int) -> None:
        call = self._legs.get(leg)
        if call is not None and call.token == token:
            call.timers.pop(PROMPT_TIMER, None)
            self.prompts_overdue += 1
            log.warning("%s call %s: end of prompt %s not reported", self.name, call.about, token)
            self.on_event(ev.PromptFinished(leg, token))

    def _timer(self, leg: int, kind: str) -> None:
        call = self._legs.get(leg)
        if call is not None:
            call.timers.pop(kind, None)
            self._run(call, call.call.timer(kind))

    @staticmethod
    def _cancel(call: OutboundLeg, kind: str) -> None:
        handle = call.timers.pop(kind, None)
        if handle is not None:
            handle.cancel()

    def _ended(self, call: OutboundLeg, how: str) -> None:
        self._legs.pop(call.leg, None)
        for handle in call.timers.values():
            handle.cancel()
        task = asyncio.get_running_loop().create_task(self.record(call, how))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s result not recorded", self.name, exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Until no call is up and every result is written (tests, shut-down)."""
        while self._legs or self._tasks:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_dialer(dialer: OutboundDialer, interval: float) -> None:
    """The background loop (a leader job): calls left `calling` by a stopped process are
    due again, then every `interval` seconds the calls due are placed."""
    await dialer.recover()
    while True:
        try:
            await dialer.run_once()
        except Exception:  # the database is down, say: log and try again later
            log.exception("%s dialer round failed", dialer.name)
        await asyncio.sleep(interval)
