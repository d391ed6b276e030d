"""Working time on the Chinese statutory calendar (法定节假日 and 调休).

Pure domain code, no I/O: which days are working days (the official data of the
`chinesecalendar` package, corrected by the admin's calendar table), and adding or
measuring working time between two instants. Urgent orders run on `WallClock` instead.

Working periods are local wall-clock times, so all arithmetic happens in the calendar's
time zone and every datetime returned is in that zone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar

# How far `add_working_seconds` searches before giving up: ten years, so that a calendar
# without working days (a misconfigured override table) fails loudly instead of looping.
MAX_SEARCH_DAYS = 3660

_ONE_DAY = timedelta(days=1)
_NOTHING = timedelta()


class CalendarYearUnpublished(Exception):
    """The official holidays of this year are not published yet and no admin set the day.

    Raised only by a calendar built with `strict=True`; by default such days fall back to
    Monday–Friday and callers flag the deadline as unverified instead.
    """


@functools.lru_cache(maxsize=16_384)
def _statutory_workday(day: date) -> bool | None:
    """The official answer for `day` (调休 included), or None when its year is unpublished."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # chinesecalendar's way of saying "no data for this year"
        return None


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {at!r}")
    return at


def _duration(seconds: float) -> timedelta:
    """Seconds to add, checked; timedelta keeps the arithmetic exact (to the microsecond)."""
    if not 0 <= seconds < math.inf:
        raise ValueError(f"seconds must be finite and >= 0, got {seconds!r}")
    return timedelta(seconds=seconds)


def _length(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working-time arithmetic on the Chinese statutory calendar (法定节假日 and 调休).

    `work_periods` are the local working hours of a working day, e.g. 09:00–12:00 and
    13:30–17:30. `overrides` is the admin's calendar table (date -> is a working day) and
    wins over everything. A day of a year chinesecalendar has no data for falls back to
    Monday–Friday and counts as unverified (or raises CalendarYearUnpublished if `strict`).
    """

    work_periods: tuple[tuple[time, time], ...]
    tz: ZoneInfo
    overrides: Mapping[date, bool] = field(default_factory=dict, hash=False)
    strict: bool = False
    _day_length: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        periods = tuple((start, end) for start, end in self.work_periods)
        previous_end = time.min
        for start, end in periods:
            if not previous_end <= start < end:
                raise ValueError(f"working periods must be ordered and not overlap: {periods}")
            previous_end = end
        if not periods:
            raise ValueError("at least one working period is needed")
        # A private read-only copy: deadlines already computed must not change because the
        # caller later edits its dict.
        object.__setattr__(self, "work_periods", periods)
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "_day_length", sum((_length(*p) for p in periods), _NOTHING))

    @classmethod
    def from_settings(
        cls,
        periods: Iterable[tuple[time | str, time | str]],
        timezone: str | ZoneInfo,
        overrides: Mapping[date, bool] | None = None,
    ) -> WorkingCalendar:
        """Build from the `[calendar]` settings; times may be "HH:MM" strings."""

        def as_time(value: time | str) -> time:
            return value if isinstance(value, time) else time.fromisoformat(value)

        return cls(
            work_periods=tuple((as_time(start), as_time(end)) for start, end in periods),
            tz=timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone),
            overrides=overrides or {},
        )

    @property
    def day_seconds(self) -> float:
        """Length of one working day in seconds (7 h with the default working hours)."""
        return self._day_length.total_seconds()

    def is_working_day(self, day: date) -> bool:
        """Override, else the official data (调休 included), else Monday–Friday."""
        if day in self.overrides:
            return self.overrides[day]
        official = _statutory_workday(day)
        if official is not None:
            return official
        if self.strict:
            raise CalendarYearUnpublished(f"no official calendar for {day} yet")
        return day.weekday() < 5

    def is_verified(self, day: date) -> bool:
        """False when `day` is beyond the published data and no admin has set it."""
        return day in self.overrides or _statutory_workday(day) is not None

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working time in [start, end), in seconds; 0 when end <= start."""
        start, end = self._local(start), self._local(end)
        if end <= start:
            return 0.0
        total = _NOTHING
        day = start.date()
        while day <= end.date():
            if start.date() < day < end.date():
                total += self._day_length if self.is_working_day(day) else _NOTHING
            else:
                for p_start, p_end in self._periods(day):
                    total += max(min(p_end, end) - max(p_start, start), _NOTHING)
            day += _ONE_DAY
        return total.total_seconds()

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant t >= start with working_seconds_between(start, t) == seconds.

        A start outside working hours counts from the next working period; a result that
        falls on the end of a period (12:00, 17:30) is that end, not the next period's start.
        """
        start = self._local(start)
        remaining = _duration(seconds)
        if not remaining:
            return start
        day = start.date()
        for _ in range(MAX_SEARCH_DAYS):
            if day != start.date() and remaining > self._day_length and self.is_working_day(day):
                remaining -= self._day_length  # a whole working day at once
            else:
                for p_start, p_end in self._periods(day):
                    begin = max(p_start, start)
                    if begin >= p_end:
                        continue
                    if remaining <= p_end - begin:
                        return begin + remaining
                    remaining -= p_end - begin
            day += _ONE_DAY
        raise ValueError(f"no {seconds} s of working time within {MAX_SEARCH_DAYS} days of {start}")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """`days` working days after `start` (a working day being `day_seconds` long)."""
        return self.add_working_seconds(start, days * self.day_seconds)

    def unverified_between(self, start: datetime, end: datetime) -> bool:
        """Whether any local date from start's to end's (inclusive) is unverified."""
        day, last = self._local(start).date(), self._local(end).date()
        while day <= last:
            if not self.is_verified(day):
                return True
            day += _ONE_DAY
        return False

    def _local(self, at: datetime) -> datetime:
        return _require_aware(at).astimezone(self.tz)

    def _periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of `day` as local datetimes; none on a rest day."""
        if not self.is_working_day(day):
            return []
        return [
            (datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
            for start, end in self.work_periods
        ]


@dataclass(frozen=True)
class WallClock:
    """Urgent orders (紧急) run on wall-clock time: every hour counts, holidays included.

    Durations are real elapsed time; results are in `tz`, or in start's zone without one.
    """

    tz: tzinfo | None = None

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        elapsed = _require_aware(end).astimezone(UTC) - _require_aware(start).astimezone(UTC)
        return max(elapsed.total_seconds(), 0.0)

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        due = _require_aware(start).astimezone(UTC) + _duration(seconds)
        return due.astimezone(self.tz or start.tzinfo)
