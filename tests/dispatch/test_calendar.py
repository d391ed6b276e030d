"""Working-time arithmetic on the statutory calendar; every expected value is worked by hand.

Default working day: 09:00–12:00 and 13:30–17:30 in Shanghai, i.e. 7 h = 25 200 s.
"""

from __future__ import annotations

import random
import time as timer
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.calendar import (
    MAX_SEARCH_DAYS,
    CalendarYearUnpublished,
    WallClock,
    WorkingCalendar,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
DAY = 7 * HOUR
CAL = WorkingCalendar.from_settings([("09:00", "12:00"), ("13:30", "17:30")], "Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def test_day_seconds_and_settings_forms():
    assert CAL.day_seconds == DAY
    same = WorkingCalendar(((time(9), time(12)), (time(13, 30), time(17, 30))), SHANGHAI)
    assert same == CAL
    assert hash(same) == hash(CAL)


@pytest.mark.parametrize(
    "periods",
    [[], [("12:00", "09:00")], [("09:00", "12:00"), ("11:00", "17:30")]],
)
def test_bad_working_periods_are_rejected(periods):
    with pytest.raises(ValueError):
        WorkingCalendar.from_settings(periods, "Asia/Shanghai")


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # an ordinary Saturday
        (date(2025, 9, 28), True),  # Sunday, make-up working day (调休) for National Day
        (date(2025, 10, 1), False),
        (date(2025, 10, 6), False),  # Mid-Autumn, inside the National Day week
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday, make-up working day
        (date(2025, 10, 12), False),
        (date(2025, 1, 26), True),  # Sunday before Spring Festival, make-up day
        (date(2025, 1, 28), False),
        (date(2025, 2, 4), False),  # Spring Festival: 28 Jan – 4 Feb
        (date(2025, 2, 8), True),  # Saturday, make-up day
        (date(2025, 11, 15), False),
        (date(2025, 11, 17), True),  # an ordinary weekend and Monday
    ],
)
def test_statutory_days(day, working):
    assert CAL.is_working_day(day) is working
    assert CAL.is_verified(day)


# --- 2025 National Day + Mid-Autumn: rest 1–8 Oct, make-up working Sun 28 Sep, Sat 11 Oct.


def test_national_day_2025_one_and_two_working_days():
    # Tue 30 Sep 10:00–12:00 and 13:30–17:30 is 6 h; 1 h more on Thu 9 Oct ends at 10:00.
    assert CAL.add_working_days(at(2025, 9, 30, 10), 1) == at(2025, 10, 9, 10)
    # The second day's 7 h: Thu 9 Oct 10:00–17:30 is 6 h, the last hour is Fri 10 Oct 9–10.
    assert CAL.add_working_days(at(2025, 9, 30, 10), 2) == at(2025, 10, 10, 10)
    assert CAL.working_seconds_between(at(2025, 9, 30, 10), at(2025, 10, 10, 10)) == 2 * DAY
    assert CAL.working_seconds_between(at(2025, 9, 30, 9), at(2025, 10, 9, 9)) == DAY
    assert CAL.working_seconds_between(at(2025, 10, 1), at(2025, 10, 8, 23, 59)) == 0


def test_start_on_make_up_sunday_2025_09_28():
    # Sun 28, Mon 29 and Tue 30 Sep are the three working days; the third ends at 17:30.
    assert CAL.add_working_days(at(2025, 9, 28, 9), 1) == at(2025, 9, 28, 17, 30)
    assert CAL.add_working_days(at(2025, 9, 28, 9), 3) == at(2025, 9, 30, 17, 30)
    # 4 days: the fourth is Thu 9 Oct, after the holiday.
    assert CAL.add_working_days(at(2025, 9, 28, 9), 4) == at(2025, 10, 9, 17, 30)
    # From the rest Saturday before it, counting starts on the make-up Sunday.
    assert CAL.add_working_seconds(at(2025, 9, 27, 10), 2 * HOUR) == at(2025, 9, 28, 11)


def test_crossing_make_up_saturday_2025_10_11():
    # Fri 10 Oct 14:00–17:30 = 3.5 h, Sat 11 Oct 7 h, Mon 13 Oct 09:00–12:00 3 h,
    # then 0.5 h after lunch: 14 h in all.
    assert CAL.add_working_days(at(2025, 10, 10, 14), 2) == at(2025, 10, 13, 14)
    # Fri 13:30: 4 h + 7 h + 3 h, ending exactly as Monday's morning period ends.
    assert CAL.add_working_days(at(2025, 10, 10, 13, 30), 2) == at(2025, 10, 13, 12)
    assert CAL.working_seconds_between(at(2025, 10, 10, 9), at(2025, 10, 13, 9)) == 2 * DAY


# --- Other holidays and weekends.


def test_normal_weekend():
    # Fri 14 Nov 2025 15:00–17:30 = 2.5 h, Mon 17 Nov 09:00–11:30 = 2.5 h.
    assert CAL.add_working_seconds(at(2025, 11, 14, 15), 5 * HOUR) == at(2025, 11, 17, 11, 30)
    assert CAL.working_seconds_between(at(2025, 11, 14, 17, 30), at(2025, 11, 17, 9)) == 0
    assert CAL.add_working_days(at(2025, 11, 14, 9), 5) == at(2025, 11, 20, 17, 30)


def test_spring_festival_2025():
    # Rest Tue 28 Jan – Tue 4 Feb; make-up working Sun 26 Jan and Sat 8 Feb.
    # Mon 27 Jan 16:00–17:30 = 1.5 h; Wed 5 Feb 09:00–12:00 3 h + 13:30–16:00 2.5 h = 7 h.
    assert CAL.add_working_days(at(2025, 1, 27, 16), 1) == at(2025, 2, 5, 16)
    # From Sat 25 Jan: Sun 26, Mon 27, Wed 5, Thu 6, Fri 7 Feb; a 6th day is Sat 8 Feb.
    assert CAL.add_working_days(at(2025, 1, 25, 10), 5) == at(2025, 2, 7, 17, 30)
    assert CAL.add_working_days(at(2025, 1, 25, 10), 6) == at(2025, 2, 8, 17, 30)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (at(2025, 11, 12, 8), at(2025, 11, 12, 10)),  # before 09:00
        (at(2025, 11, 12, 12), at(2025, 11, 12, 14, 30)),  # the instant the morning ends
        (at(2025, 11, 12, 12, 45), at(2025, 11, 12, 14, 30)),  # lunch break
        (at(2025, 11, 12, 17, 30), at(2025, 11, 13, 10)),  # the instant the day ends
        (at(2025, 11, 12, 21), at(2025, 11, 13, 10)),  # evening
        (at(2025, 11, 16, 11), at(2025, 11, 17, 10)),  # on a Sunday
        (at(2025, 10, 3, 10), at(2025, 10, 9, 10)),  # on a holiday
    ],
)
def test_start_outside_working_hours_counts_from_next_period(start, due):
    assert CAL.add_working_seconds(start, HOUR) == due


def test_landing_on_end_of_a_period_returns_that_end():
    assert CAL.add_working_seconds(at(2025, 11, 12, 9), 3 * HOUR) == at(2025, 11, 12, 12)
    assert CAL.add_working_seconds(at(2025, 11, 12, 10), 6 * HOUR) == at(2025, 11, 12, 17, 30)
    assert CAL.add_working_seconds(at(2025, 11, 12, 9), 3 * HOUR + 1) == datetime(
        2025, 11, 12, 13, 30, 1, tzinfo=SHANGHAI
    )


def test_zero_seconds_returns_start_even_outside_hours():
    sunday_night = at(2025, 11, 16, 3)
    assert CAL.add_working_seconds(sunday_night, 0) == sunday_night


def test_other_zones_in_local_time_out():
    start = datetime(2025, 9, 30, 2, tzinfo=UTC)  # 10:00 in Shanghai
    due = CAL.add_working_days(start, 1)
    assert due == at(2025, 10, 9, 10)
    assert due.tzinfo is SHANGHAI
    # Sun 16 Nov 23:00 UTC is Mon 07:00 in Shanghai: Monday's working day counts, not Sunday.
    sunday_utc = datetime(2025, 11, 16, 23, tzinfo=UTC)
    assert CAL.working_seconds_between(sunday_utc, at(2025, 11, 17, 10)) == HOUR
    assert CAL.add_working_seconds(sunday_utc, HOUR) == at(2025, 11, 17, 10)


def test_bad_input_is_rejected():
    naive = datetime(2025, 11, 12, 10)
    with pytest.raises(ValueError):
        CAL.add_working_seconds(naive, HOUR)
    with pytest.raises(ValueError):
        CAL.working_seconds_between(naive, at(2025, 11, 13))
    with pytest.raises(ValueError):
        CAL.unverified_between(at(2025, 11, 13), naive)
    with pytest.raises(ValueError):
        CAL.add_working_seconds(at(2025, 11, 12), -1)
    with pytest.raises(ValueError):
        CAL.add_working_seconds(at(2025, 11, 12), float("nan"))
    assert CAL.working_seconds_between(at(2025, 11, 13), at(2025, 11, 12)) == 0


def test_search_is_capped():
    with pytest.raises(ValueError):
        CAL.add_working_days(at(2025, 1, 2), MAX_SEARCH_DAYS)  # more working days than days
    first = date(2025, 1, 1)
    no_work = {first + timedelta(days=i): False for i in range(MAX_SEARCH_DAYS + 1)}
    closed = WorkingCalendar(CAL.work_periods, SHANGHAI, no_work)
    with pytest.raises(ValueError):
        closed.add_working_seconds(at(2025, 1, 1), 1)


def test_long_spans_are_fast():
    begin = timer.perf_counter()
    for hour in range(100):
        CAL.add_working_days(at(2025, 3, 3) + timedelta(hours=hour), 30)
        CAL.working_seconds_between(at(2025, 3, 3) + timedelta(hours=hour), at(2025, 5, 3))
    # a guard against stepping minute by minute, not a latency figure
    assert timer.perf_counter() - begin < 10.0


# --- Inverse property: working_seconds_between undoes add_working_seconds.


def _random_instant(rng: random.Random) -> datetime:
    minutes = rng.randrange(3 * 366 * 24 * 60)
    return at(2024, 1, 1) + timedelta(minutes=minutes, seconds=rng.choice([0, 0, 17.25]))


def test_between_is_inverse_of_add():
    rng = random.Random(12345)
    for _ in range(400):
        start = _random_instant(rng)
        seconds = rng.choice(
            [rng.randrange(30 * DAY), rng.randrange(40) * DAY, rng.uniform(0, 3 * DAY)]
        )
        due = CAL.add_working_seconds(start, seconds)
        assert due >= start
        assert CAL.working_seconds_between(start, due) == pytest.approx(seconds, abs=1e-6)
        if seconds >= 1e-6:  # the earliest such instant: a microsecond earlier is too little
            earlier = due - timedelta(microseconds=1)
            assert CAL.working_seconds_between(start, earlier) < seconds


def test_add_is_inverse_of_between():
    rng = random.Random(54321)
    for _ in range(400):
        start = _random_instant(rng)
        end = start + timedelta(minutes=rng.randrange(60 * 24 * 45))
        worked = CAL.working_seconds_between(start, end)
        due = CAL.add_working_seconds(start, worked)
        assert due <= end
        assert CAL.working_seconds_between(due, end) == 0


# --- Overrides (the admin's calendar table).


def test_overrides_change_results():
    cal = WorkingCalendar(
        CAL.work_periods,
        SHANGHAI,
        {date(2025, 11, 17): False, date(2025, 11, 22): True},  # a Monday off, a Saturday on
    )
    assert not cal.is_working_day(date(2025, 11, 17))
    assert cal.is_working_day(date(2025, 11, 22))
    # Fri 14 Nov 15:00 + 5 h: 2.5 h on Friday, Monday is off, 2.5 h on Tuesday.
    assert cal.add_working_seconds(at(2025, 11, 14, 15), 5 * HOUR) == at(2025, 11, 18, 11, 30)
    # Fri 21 Nov 15:00 + 5 h: the Saturday works, so 11:30 on Saturday (not Monday).
    assert CAL.add_working_seconds(at(2025, 11, 21, 15), 5 * HOUR) == at(2025, 11, 24, 11, 30)
    assert cal.add_working_seconds(at(2025, 11, 21, 15), 5 * HOUR) == at(2025, 11, 22, 11, 30)


def test_overrides_win_over_the_statutory_calendar():
    cal = WorkingCalendar(
        CAL.work_periods, SHANGHAI, {date(2025, 10, 8): True, date(2025, 9, 28): False}
    )
    assert cal.add_working_days(at(2025, 9, 30, 10), 1) == at(2025, 10, 8, 10)
    assert cal.add_working_days(at(2025, 9, 27, 9), 1) == at(2025, 9, 29, 17, 30)


def test_overrides_are_copied_and_read_only():
    table = {date(2025, 11, 17): False}
    cal = WorkingCalendar(CAL.work_periods, SHANGHAI, table)
    table[date(2025, 11, 17)] = True
    assert not cal.is_working_day(date(2025, 11, 17))
    with pytest.raises(TypeError):
        cal.overrides[date(2025, 11, 18)] = False  # type: ignore[index]
    assert hash(cal) == hash(CAL)  # hashable; equal hashes are allowed, equality is not
    assert cal != CAL


# --- Years chinesecalendar 1.11.0 has not published (its data covers 2004–2026).


def test_published_years_are_verified():
    assert CAL.is_verified(date(2026, 12, 31))
    assert not CAL.unverified_between(at(2025, 9, 30, 10), at(2026, 10, 9))


def test_unpublished_year_falls_back_to_weekdays_and_is_flagged():
    assert not CAL.is_verified(date(2035, 10, 1))
    assert CAL.is_working_day(date(2035, 10, 1))  # a Monday; surely National Day in reality
    assert not CAL.is_working_day(date(2035, 10, 6))  # a Saturday
    # Fri 5 Oct 2035 15:00 + 5 h: Monday–Friday only, so Mon 8 Oct 11:30.
    assert CAL.add_working_seconds(at(2035, 10, 5, 15), 5 * HOUR) == at(2035, 10, 8, 11, 30)
    assert CAL.unverified_between(at(2035, 10, 5), at(2035, 10, 8))
    # A deadline that only reaches into the first unpublished year is flagged too.
    first = next(y for y in range(2026, 2100) if not CAL.is_verified(date(y, 1, 1)))
    assert CAL.unverified_between(at(first - 1, 12, 30, 10), at(first, 1, 4, 10))
    assert not CAL.unverified_between(at(first - 1, 12, 1, 10), at(first - 1, 12, 31, 17))


def test_override_verifies_an_unpublished_day():
    national_day = date(2035, 10, 1)
    cal = WorkingCalendar(CAL.work_periods, SHANGHAI, {national_day: False})
    assert cal.is_verified(national_day)
    assert not cal.is_working_day(national_day)
    assert not cal.is_verified(date(2035, 10, 2))
    assert not cal.unverified_between(at(2035, 10, 1, 9), at(2035, 10, 1, 17))
    # Fri 28 Sep 2035 15:00 + 5 h: Monday 1 Oct is off, so Tue 2 Oct 11:30.
    assert cal.add_working_seconds(at(2035, 9, 28, 15), 5 * HOUR) == at(2035, 10, 2, 11, 30)


def test_strict_calendar_refuses_unpublished_days():
    strict = WorkingCalendar(CAL.work_periods, SHANGHAI, {date(2035, 10, 1): False}, strict=True)
    assert not strict.is_working_day(date(2035, 10, 1))
    assert strict.is_working_day(date(2025, 10, 11))
    with pytest.raises(CalendarYearUnpublished):
        strict.is_working_day(date(2035, 10, 2))


# --- Urgent orders: the wall clock.


def test_wall_clock_runs_through_holidays():
    wall = WallClock()
    start = at(2025, 9, 30, 10)
    assert wall.add_working_seconds(start, 24 * HOUR) == at(2025, 10, 1, 10)
    assert wall.working_seconds_between(start, at(2025, 10, 1, 10)) == 24 * HOUR
    assert wall.working_seconds_between(at(2025, 10, 1, 10), start) == 0
    assert wall.add_working_seconds(start, 0) == start


def test_wall_clock_counts_elapsed_time_and_returns_its_zone():
    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward on 30 Mar 2025, 02:00 -> 03:00
    start = datetime(2025, 3, 29, 12, tzinfo=berlin)
    due = WallClock(tz=berlin).add_working_seconds(start, 24 * HOUR)
    assert due == datetime(2025, 3, 30, 13, tzinfo=berlin)
    assert WallClock().working_seconds_between(start, due) == 24 * HOUR
    assert WallClock(tz=SHANGHAI).add_working_seconds(start, 0).tzinfo is SHANGHAI
    with pytest.raises(ValueError):
        WallClock().add_working_seconds(datetime(2025, 3, 29, 12), 1)
