"""Working-time arithmetic on the statutory calendar, checked against hand-computed days.

Working hours 09:00–12:00 and 13:30–17:30: a working day is 7 h.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.calendar import WallClock, WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
PERIODS = ((time(9), time(12)), (time(13, 30), time(17, 30)))
CAL = WorkingCalendar(PERIODS, TZ)
H = 3600


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def test_day_length():
    assert CAL.day_seconds == 7 * H


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2025-09-28", True),  # Sunday, make-up working day (调休) for National Day
        ("2025-10-01", False),
        ("2025-10-08", False),  # National Day + Mid-Autumn holiday
        ("2025-10-09", True),
        ("2025-10-11", True),  # Saturday, make-up working day
        ("2025-10-12", False),
        ("2025-01-26", True),  # Sunday before Spring Festival, make-up day
        ("2025-01-28", False),
        ("2025-02-04", False),  # Spring Festival
        ("2025-02-08", True),  # Saturday, make-up day
        ("2026-11-21", False),
        ("2026-11-23", True),  # an ordinary weekend and Monday
    ],
)
def test_statutory_days(day, working):
    assert CAL.is_working_day(date.fromisoformat(day)) is working
    assert CAL.is_verified(date.fromisoformat(day))


def test_across_national_day_week():
    # Tue 30 Sep 10:00: 6 h left that day; 1-8 Oct are holidays; Thu 9 Oct adds 7 h -> 13 h;
    # the 14th hour ends Fri 10 Oct 10:00.
    assert CAL.add_working_days(at("2025-09-30 10:00"), 2) == at("2025-10-10 10:00")
    assert CAL.working_seconds_between(at("2025-09-30 10:00"), at("2025-10-10 10:00")) == 14 * H


def test_starting_on_the_make_up_sunday():
    # Sun 28 Sep is a working day: 09:00 + 1 day = its own 17:30
    assert CAL.add_working_days(at("2025-09-28 09:00"), 1) == at("2025-09-28 17:30")
    # 3 days from Sunday 09:00: Sun, Mon 29, Tue 30 -> Tue 17:30
    assert CAL.add_working_days(at("2025-09-28 09:00"), 3) == at("2025-09-30 17:30")


def test_across_the_make_up_saturday():
    # Fri 10 Oct 13:30 + 2 days: Fri 4 h, Sat 11 Oct 7 h (make-up), Mon 13 Oct 3 h -> 12:00
    assert CAL.add_working_days(at("2025-10-10 13:30"), 2) == at("2025-10-13 12:00")


def test_spring_festival_2025():
    # Mon 27 Jan 09:00 + 2 days: 27 Jan (7 h), then holiday 28 Jan - 4 Feb, Wed 5 Feb 17:30
    assert CAL.add_working_days(at("2025-01-27 09:00"), 2) == at("2025-02-05 17:30")


def test_ordinary_weekend():
    assert CAL.add_working_seconds(at("2026-11-20 16:30"), 2 * H) == at("2026-11-23 10:00")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-11-23 07:00", "2026-11-23 10:00"),  # before work
        ("2026-11-23 12:30", "2026-11-23 14:30"),  # lunch break
        ("2026-11-23 18:00", "2026-11-24 10:00"),  # after work
        ("2026-11-22 11:00", "2026-11-23 10:00"),  # on a Sunday
        ("2025-10-03 11:00", "2025-10-09 10:00"),  # on a holiday
    ],
)
def test_start_outside_working_time(start, expected):
    assert CAL.add_working_seconds(at(start), H) == at(expected)


def test_ends_exactly_at_period_end():
    assert CAL.add_working_seconds(at("2026-11-23 09:00"), 3 * H) == at("2026-11-23 12:00")
    assert CAL.add_working_seconds(at("2026-11-23 09:00"), 7 * H) == at("2026-11-23 17:30")
    assert CAL.add_working_seconds(at("2026-11-23 11:00"), 0) == at("2026-11-23 11:00")


def test_utc_inputs_are_local_working_hours():
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert CAL.add_working_seconds(start, H) == at("2026-11-23 10:00")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        CAL.add_working_seconds(datetime(2026, 11, 23, 9), H)


def test_between_is_the_inverse_of_add():
    rng = random.Random(20261123)
    base = at("2024-01-01 00:00")
    for _ in range(400):
        start = base + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        seconds = rng.choice([0.5 * H, 2 * H, 7 * H, 15 * 7 * H, rng.uniform(1, 40 * 7 * H)])
        end = CAL.add_working_seconds(start, seconds)
        assert CAL.working_seconds_between(start, end) == pytest.approx(seconds, abs=1e-3)
        assert end >= start


def test_between_is_zero_backwards_and_on_holidays():
    assert CAL.working_seconds_between(at("2026-11-24 10:00"), at("2026-11-23 10:00")) == 0
    assert CAL.working_seconds_between(at("2025-10-01 00:00"), at("2025-10-08 23:59")) == 0


def test_overrides_win():
    monday, saturday = date(2026, 11, 23), date(2026, 11, 28)
    cal = WorkingCalendar(PERIODS, TZ, {monday: False, saturday: True})
    assert not cal.is_working_day(monday) and cal.is_working_day(saturday)
    # Friday 17:00 + 1 h: half an hour Friday, then the Saturday that became a working day
    assert cal.add_working_seconds(at("2026-11-27 17:00"), H) == at("2026-11-28 09:30")
    assert cal.add_working_seconds(at("2026-11-23 09:00"), H) == at("2026-11-24 10:00")


def test_unpublished_year_is_flagged_and_falls_back_to_weekdays():
    day = date(2035, 3, 5)  # a Monday; chinesecalendar 1.11.0 stops at 2026
    assert not CAL.is_verified(day)
    assert CAL.is_working_day(day) and not CAL.is_working_day(date(2035, 3, 3))
    assert CAL.unverified_between(at("2026-12-28 10:00"), at("2027-01-05 10:00"))
    assert not CAL.unverified_between(at("2026-11-23 10:00"), at("2026-12-14 10:00"))
    fixed = WorkingCalendar(PERIODS, TZ, {day: False})
    assert fixed.is_verified(day) and not fixed.is_working_day(day)


def test_no_working_days_at_all_is_an_error_not_a_hang():
    never = WorkingCalendar(
        PERIODS, TZ, {date(2026, 1, 1) + timedelta(days=i): False for i in range(4000)}
    )
    with pytest.raises(ValueError):
        never.add_working_seconds(at("2026-01-01 09:00"), H)


def test_wall_clock_counts_holidays():
    wall = WallClock()
    start = at("2025-09-30 20:00")
    assert wall.add_working_seconds(start, 24 * H) == at("2025-10-01 20:00")
    assert wall.working_seconds_between(start, at("2025-10-01 20:00")) == 24 * H
