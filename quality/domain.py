"""质检 rules, pure: ISO weeks, which recordings a week's sample takes, checklist totals.

The sample is deterministic: each candidate call of an agent in a week gets the key
sha256("<agent>|<week>|<call id>") and the `n` smallest keys are taken. A rerun of
the same week picks the same calls; a call added later displaces a chosen one only if
its key is smaller, and the job never removes reviews it already wrote.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.errors import InvalidInput
from quality.exceptions import InvalidWeek


class Reason(StrEnum):
    """Why a call is in the week's reviews."""

    SAMPLED = "sampled"  # 随机抽检
    BAD_RATING = "bad_rating"  # 差评工单的通话


class ReviewState(StrEnum):
    PENDING = "pending"  # 待评分
    SCORED = "scored"  # 已评分


REASON_LABELS = {Reason.SAMPLED: "随机抽检", Reason.BAD_RATING: "差评工单"}
STATE_LABELS = {ReviewState.PENDING: "待评分", ReviewState.SCORED: "已评分"}

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class IsoWeek:
    """An ISO 8601 week, written 2026-W49 (Monday to Sunday)."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK.match(text.strip())
        if not match:
            raise InvalidWeek(text)
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise InvalidWeek(text) from None
        return cls(year, week)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in the centre's time zone."""
        start = datetime.combine(self.monday, time(), tz)
        return start, datetime.combine(self.monday + timedelta(days=7), time(), tz)

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(days=7))


def sample_key(agent: str, week: IsoWeek, call_id: str) -> str:
    return hashlib.sha256(f"{agent}|{week}|{call_id}".encode()).hexdigest()


def weekly_sample(
    calls_by_agent: Mapping[str, Iterable[str]], week: IsoWeek, per_agent: int
) -> dict[str, list[str]]:
    """The call ids to review per agent: the `per_agent` smallest sample keys."""
    chosen = {}
    for agent, calls in calls_by_agent.items():
        ranked = sorted(set(calls), key=lambda call_id: sample_key(agent, week, call_id))
        if picked := ranked[:per_agent]:
            chosen[agent] = picked
    return chosen


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    max: int
    weight: float


def checklist_of(items: Iterable) -> tuple[ChecklistItem, ...]:
    """The configured checklist (`[quality] checklist`) as domain items."""
    return tuple(ChecklistItem(i.key, i.label, i.max, i.weight) for i in items)


def check_scores(checklist: Sequence[ChecklistItem], scores: Mapping[str, int]) -> dict[str, int]:
    """Every item scored once, each a whole number within 0..max; else InvalidInput."""
    keys = {item.key for item in checklist}
    unknown = sorted(set(scores) - keys)
    if unknown:
        raise InvalidInput(f"未知的评分项: {', '.join(unknown)[:100]}")
    checked = {}
    for item in checklist:
        value = scores.get(item.key)
        if value is None:
            raise InvalidInput(f"请为“{item.label}”评分")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= item.max:
            raise InvalidInput(f"“{item.label}”的得分须为 0–{item.max} 的整数")
        checked[item.key] = value
    return checked


def total_score(checklist: Sequence[ChecklistItem], scores: Mapping[str, int]) -> float:
    """The weighted total on 0–100: sum(score / max * weight) / sum(weight) * 100."""
    weights = sum(item.weight for item in checklist)
    earned = sum(scores[item.key] / item.max * item.weight for item in checklist)
    return round(earned / weights * 100, 2)
