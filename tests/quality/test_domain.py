"""质检 rules without a database: ISO weeks, the deterministic sample, checklist totals."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.errors import InvalidInput
from config import QualitySettings
from quality.domain import (
    IsoWeek,
    check_scores,
    checklist_of,
    sample_key,
    total_score,
    weekly_sample,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHECKLIST = checklist_of(QualitySettings().checklist)


def test_iso_weeks():
    week = IsoWeek.parse("2026-W49")
    assert str(week) == "2026-W49" and week.monday == date(2026, 11, 30)
    start, end = week.bounds(SHANGHAI)
    assert start == datetime(2026, 11, 30, tzinfo=SHANGHAI)
    assert end == datetime(2026, 12, 7, tzinfo=SHANGHAI)
    assert IsoWeek.of(date(2027, 1, 1)) == IsoWeek(2026, 53)  # a Friday of 2026's week 53
    assert str(IsoWeek.parse("2026-W01").previous()) == "2025-W52"
    for bad in ("2026-49", "2026-W54", "2025-W53", "2026-W00", "", "W49"):
        with pytest.raises(InvalidInput):
            IsoWeek.parse(bad)


def test_the_sample_is_the_same_on_every_run_and_in_any_order():
    week = IsoWeek(2026, 49)
    calls = {"agent": [f"c{i}" for i in range(20)], "agent2": ["x1", "x2"]}
    first = weekly_sample(calls, week, 3)
    assert first == weekly_sample({k: list(reversed(v)) for k, v in calls.items()}, week, 3)
    assert len(first["agent"]) == 3 and sorted(first["agent2"]) == ["x1", "x2"]
    # the 3 smallest keys of the agent's calls, seeded by agent + week
    expected = sorted(calls["agent"], key=lambda c: sample_key("agent", week, c))[:3]
    assert first["agent"] == expected
    # another week (or another agent with the same calls) draws differently
    weeks = {tuple(weekly_sample(calls, IsoWeek(2026, w), 3)["agent"]) for w in range(40, 50)}
    assert len(weeks) > 1
    # a bigger sample contains the smaller one; an agent without calls gets nothing
    assert weekly_sample(calls, week, 5)["agent"][:3] == first["agent"]
    assert weekly_sample({"idle": []}, week, 3) == {}
    assert weekly_sample(calls, week, 0) == {}


def test_scores_are_checked_against_the_checklist():
    full = {item.key: item.max for item in CHECKLIST}
    assert total_score(CHECKLIST, check_scores(CHECKLIST, full)) == 100.0
    assert total_score(CHECKLIST, {k: 0 for k in full}) == 0.0
    # policy (weight 25 of 100) at 3/5, the rest full: 100 - 25 * 2/5 = 90
    assert total_score(CHECKLIST, {**full, "policy": 3}) == 90.0
    for wrong in (
        {k: v for k, v in full.items() if k != "closing"},  # an item not scored
        {**full, "closing": 6},  # above its max
        {**full, "closing": -1},
        {**full, "closing": True},
        {**full, "smile": 1},  # not on the checklist
    ):
        with pytest.raises(InvalidInput):
            check_scores(CHECKLIST, wrong)


def test_checklist_keys_are_unique():
    item = {"key": "opening", "label": "开场", "max": 5, "weight": 1}
    with pytest.raises(ValueError):
        QualitySettings(checklist=[item, item])
