"""外呼任务: outbound campaigns (民意调查 / 政策宣传) with a DTMF questionnaire.

    draft ──start──▶ running ◀──start── paused
                       │ ──pause──▶ paused
                       └── every target settled ──▶ done

An admin defines the campaign (questions with their keys, calling hours, attempts, pace
and concurrency), adds targets (a list, a CSV upload, or the callers of past calls) and
starts it. `CampaignDialer` places the calls from the intake through `[sip] survey_uri`
(the outbound gateway; the call itself is callcenter/outbound.py's, shared with the
satisfaction survey): at most `pace_per_minute` calls placed in any minute and
`max_concurrent` up at once per campaign, only within its calling hours. A number on
the do-not-call list (免打扰名单) is never called. A target's answers are written when its
call ends: all questions answered → done; some → partial; none (busy, no answer,
silence) → tried again after `retry_minutes`, `attempts` times in all, then failed.

`CampaignCall` is the pure key machine of one call: intro, then each question (a wrong
key or silence replays it once, then the call ends), then thanks.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import mask_phone
from app.db import unit_of_work
from app.errors import AppError, NotFound
from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from callcenter.outbound import OutboundDialer, OutboundLeg, settle_unanswered, start_attempts
from callcenter.prompts import synthesize
from callcenter.storage import Call, Campaign, CampaignTarget, DoNotCall
from config import SipSettings

log = logging.getLogger(__name__)

INTRO, THANKS = "intro", "thanks"
KEY_TIMER = "campaign_key"
KEY_TIMEOUT_SECONDS = 6.0
PHONE = re.compile(r"^\+?\d{5,20}$")
SETTLED = ("done", "partial", "failed", "dnc")


class CampaignError(AppError):
    status = 409
    code = "campaign_state"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"外呼任务不存在: {campaign_id}")


class NotOnList(NotFound):
    code = "dnc_not_found"

    def __init__(self, phone: str) -> None:
        super().__init__(f"号码不在免打扰名单中: {phone}")


def question_prompt(index: int) -> str:
    return f"q{index + 1}"


# ------------------------------------------------------------------ one call


class CallPhase(StrEnum):
    WAITING = "waiting"  # dialled, not yet talking
    INTRO = "intro"
    ASKING = "asking"
    DONE = "done"


@dataclass
class CampaignCall:
    """The keys of one campaign call (pure: actions out, no SIP)."""

    options: list[dict[str, str]]  # per question: key -> label
    key_timeout: float = KEY_TIMEOUT_SECONDS
    phase: CallPhase = CallPhase.WAITING
    question: int = 0
    answers: dict[str, str] = field(default_factory=dict)  # "0", "1" ... -> key
    retries: int = 0

    def start(self) -> list:
        if self.phase is not CallPhase.WAITING:
            return []
        self.phase = CallPhase.INTRO
        return [Play((INTRO,))]

    def prompt_finished(self, prompt: str) -> list:
        if prompt == THANKS:
            self.phase = CallPhase.DONE
            return [Hangup()]
        if self.phase is CallPhase.INTRO and prompt == INTRO:
            return self._ask()
        if self.phase is CallPhase.ASKING and prompt == question_prompt(self.question):
            return [StartTimer(KEY_TIMER, self.key_timeout)]
        return []

    def digit(self, digit: str) -> list:
        if self.phase is not CallPhase.ASKING:
            return []
        if digit not in self.options[self.question]:
            return self._again()
        self.answers[str(self.question)] = digit
        self.question += 1
        self.retries = 0
        if self.question == len(self.options):
            self.phase = CallPhase.DONE
            return [CancelTimer(KEY_TIMER), Play((THANKS,))]
        return [CancelTimer(KEY_TIMER), *self._ask()]

    def timer(self, kind: str) -> list:
        if kind != KEY_TIMER or self.phase is not CallPhase.ASKING:
            return []
        return self._again()

    def _ask(self) -> list:
        self.phase = CallPhase.ASKING
        return [Play((question_prompt(self.question),))]

    def _again(self) -> list:
        self.retries += 1
        if self.retries > 1:
            self.phase = CallPhase.DONE
            return [CancelTimer(KEY_TIMER), Hangup()]
        return [CancelTimer(KEY_TIMER), Play((question_prompt(self.question),))]


def outcome(answers: dict[str, str], questions: int) -> str:
    if len(answers) >= questions:
        return "done"
    return "partial" if answers else ""


# ------------------------------------------------------------------ use cases


def prompts_dir(settings: SipSettings, campaign_id: int) -> Path:
    return settings.prompts_path / "campaigns" / str(campaign_id)


def prompts_ready(settings: SipSettings, campaign: Campaign) -> bool:
    names = [INTRO, THANKS, *(question_prompt(i) for i in range(len(campaign.questions)))]
    directory = prompts_dir(settings, campaign.id)
    return all((directory / f"{name}.wav").is_file() for name in names)


def write_prompts(settings: SipSettings, campaign: Campaign) -> None:
    """Placeholder Mandarin prompts for the intro, each question (with its keys) and
    the thanks; recorded ones may replace them (same names)."""
    directory = prompts_dir(settings, campaign.id)
    synthesize(campaign.intro, directory / f"{INTRO}.wav")
    for i, q in enumerate(campaign.questions):
        keys = ",".join(f"{label}请按{key}" for key, label in q["options"].items())
        synthesize(f"{q['text']}{keys}。", directory / f"{question_prompt(i)}.wav")
    synthesize(campaign.thanks, directory / f"{THANKS}.wav")


def parse_phones(text: str) -> list[str]:
    """Numbers from a CSV upload: a `phone` (or 电话/手机) column, else the first one."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    column = next((header.index(h) for h in ("phone", "电话", "手机") if h in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]


@dataclass(frozen=True)
class Added:
    added: int
    duplicates: int
    invalid: int
    do_not_call: int


async def add_targets(
    session: AsyncSession, campaign: Campaign, phones: Iterable[str], now: datetime
) -> Added:
    if campaign.state == "done":
        raise CampaignError("外呼任务已结束,不能再添加号码")
    phones = list(phones)
    given = [p for p in phones if PHONE.match(p)]
    valid = list(dict.fromkeys(given))
    invalid = len(phones) - len(given)
    known = set(
        await session.scalars(
            select(CampaignTarget.phone).where(CampaignTarget.campaign_id == campaign.id)
        )
    )
    barred = set(await session.scalars(select(DoNotCall.phone).where(DoNotCall.phone.in_(valid))))
    fresh = [p for p in valid if p not in known]
    for phone in fresh:
        session.add(
            CampaignTarget(
                campaign_id=campaign.id,
                phone=phone,
                state="dnc" if phone in barred else "pending",
                attempts=0,
                next_attempt_at=now,
                answers={},
                updated_at=now,
            )
        )
    if fresh:
        campaign.updated_at = now
    stopped = len(barred.intersection(fresh))
    return Added(len(fresh) - stopped, len(given) - len(fresh), invalid, stopped)


async def past_callers(
    session: AsyncSession, since: datetime, until: datetime, hotline: str | None
) -> list[str]:
    """The distinct numbers that called (a hotline) in [since, until)."""
    stmt = select(Call.caller).where(
        Call.offered_at >= since, Call.offered_at < until, Call.caller != "anonymous"
    )
    if hotline:
        stmt = stmt.where(Call.hotline == hotline)
    return list(dict.fromkeys(await session.scalars(stmt.distinct())))


async def results(session: AsyncSession, campaign: Campaign) -> dict:
    """Live figures: targets by state, and per question how often each key was pressed."""
    states = dict(
        (
            await session.execute(
                select(CampaignTarget.state, func.count())
                .where(CampaignTarget.campaign_id == campaign.id)
                .group_by(CampaignTarget.state)
            )
        ).all()
    )
    counts = [Counter() for _ in campaign.questions]
    answered = await session.scalars(
        select(CampaignTarget.answers).where(
            CampaignTarget.campaign_id == campaign.id, CampaignTarget.state.in_(("done", "partial"))
        )
    )
    for answers in answered:
        for index, key in answers.items():
            if int(index) < len(counts):
                counts[int(index)][key] += 1
    return {
        "targets": {s: states.get(s, 0) for s in ("pending", "calling", *SETTLED)},
        "total": sum(states.values()),
        "questions": [
            {
                "text": q["text"],
                "options": [
                    {"key": key, "label": label, "count": counts[i][key]}
                    for key, label in q["options"].items()
                ],
                "answered": sum(counts[i].values()),
            }
            for i, q in enumerate(campaign.questions)
        ],
    }


async def export_rows(session: AsyncSession, campaign: Campaign) -> list[list]:
    """One row per target (the number masked) with its answers' labels."""
    rows = []
    for target in await session.scalars(
        select(CampaignTarget)
        .where(CampaignTarget.campaign_id == campaign.id)
        .order_by(CampaignTarget.id)
    ):
        labels = [
            q["options"].get(target.answers.get(str(i), ""), "")
            for i, q in enumerate(campaign.questions)
        ]
        rows.append([mask_phone(target.phone), target.state, target.attempts, *labels])
    return rows


# ------------------------------------------------------------------ dialer


class Pacer:
    """Calls spread over the minute: `pace` per minute accrue evenly, at most a second's
    worth saved up (a campaign starting, or resumed, does not place a burst: many calls
    set up at once were seen to lose the end of their first prompt)."""

    def __init__(self, pace: int, now: datetime) -> None:
        self.tokens, self.at = max(1.0, pace / 60), now

    def allowance(self, pace: int, now: datetime) -> int:
        rate = pace / 60  # per second
        elapsed = max(0.0, (now - self.at).total_seconds())
        self.tokens, self.at = min(max(1.0, rate), self.tokens + elapsed * rate), now
        return int(self.tokens)

    def spend(self) -> None:
        self.tokens -= 1


@dataclass(frozen=True)
class CampaignTargetRef:
    campaign_id: int
    target_id: int


class CampaignDialer(OutboundDialer):
    """Places the calls of running campaigns from the intake and records the answers."""

    rows = CampaignTarget
    name = "campaign"

    def __init__(
        self,
        center,  # callcenter.service.CallCenter (its endpoint places the calls)
        sessions: async_sessionmaker[AsyncSession],
        settings: SipSettings,
        now,
        tz,
    ) -> None:
        super().__init__(center, sessions, settings, now)
        self.tz = tz
        self._placed: dict[int, deque[datetime]] = {}  # campaign -> when calls were placed
        self._pacers: dict[int, Pacer] = {}

    async def run_once(self) -> int:
        """Place the calls due now in every running campaign; how many."""
        if not self.ready:
            return 0
        now = self.now()
        placed = 0
        async with unit_of_work(self.sessions) as session:
            running = list(
                await session.scalars(select(Campaign).where(Campaign.state == "running"))
            )
            calls = []
            for campaign in running:
                calls += await self._due(session, campaign, now)
        for campaign_id, target_id, phone, options in calls:
            ref = CampaignTargetRef(campaign_id, target_id)
            self.dial(phone, CampaignCall(options), ref, [("X-Campaign", str(campaign_id))])
            placed += 1
        return placed

    async def _due(self, session: AsyncSession, campaign: Campaign, now: datetime) -> list:
        if not campaign.hour_start <= now.astimezone(self.tz).hour < campaign.hour_end:
            return []
        window = self._placed.setdefault(campaign.id, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        up = self.up(lambda ref: ref.campaign_id == campaign.id)
        pacer = self._pacers.setdefault(campaign.id, Pacer(campaign.pace_per_minute, now))
        room = min(
            campaign.max_concurrent - up,
            campaign.pace_per_minute - len(window),
            pacer.allowance(campaign.pace_per_minute, now),
            self.settings.max_calls - self.center.legs_in_use,
        )
        if room <= 0:
            await self._maybe_done(session, campaign, now)
            return []
        due = list(
            await session.scalars(
                select(CampaignTarget)
                .where(
                    CampaignTarget.campaign_id == campaign.id,
                    CampaignTarget.state == "pending",
                    CampaignTarget.next_attempt_at <= now,
                )
                .order_by(CampaignTarget.next_attempt_at, CampaignTarget.id)
                .limit(room)
            )
        )
        barred = set(
            await session.scalars(
                select(DoNotCall.phone).where(DoNotCall.phone.in_([t.phone for t in due]))
            )
        )
        calls = []
        options = [q["options"] for q in campaign.questions]
        for target in due:
            target.updated_at = now
            if target.phone in barred:  # added to the list after the upload
                target.state = "dnc"
                continue
            start_attempts([target], now)
            window.append(now)
            pacer.spend()
            calls.append((campaign.id, target.id, target.phone, options))
        if not due:
            await self._maybe_done(session, campaign, now)
        return calls

    async def _maybe_done(self, session: AsyncSession, campaign: Campaign, now: datetime) -> None:
        open_ = await session.scalar(
            select(func.count()).where(
                CampaignTarget.campaign_id == campaign.id,
                CampaignTarget.state.in_(("pending", "calling")),
            )
        )
        total = await session.scalar(
            select(func.count()).where(CampaignTarget.campaign_id == campaign.id)
        )
        if total and not open_:
            campaign.state, campaign.updated_at = "done", now
            log.info("campaign %d done", campaign.id)

    def prompt_files(self, call: OutboundLeg, prompts: tuple[str, ...]) -> list[Path]:
        path = prompts_dir(self.settings, call.about.campaign_id) / f"{prompts[-1]}.wav"
        return [path] if path.is_file() else []

    async def record(self, call: OutboundLeg, how: str) -> None:
        ref: CampaignTargetRef = call.about
        keys: CampaignCall = call.call
        now = self.now()
        async with unit_of_work(self.sessions) as session:
            target = await session.get(CampaignTarget, ref.target_id)
            campaign = await session.get(Campaign, ref.campaign_id)
            if target is None or campaign is None:
                return
            state = outcome(keys.answers, len(keys.options))
            if state:
                self.answered += 1
                target.state, target.updated_at = state, now
            else:
                settle_unanswered(target, campaign.attempts, campaign.retry_minutes, now, "failed")
            target.answers = dict(keys.answers)
            target.last_result = ("answered" if keys.answers else how or "no answer")[:40]
