"""Pure parts of stats: the score's null handling, ranks, periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stats.domain import (
    Period,
    competition_ranks,
    rank_units,
    three_rate_score,
    three_rate_weights,
)

WEIGHTS = three_rate_weights({"ontime_accept": 0.2, "resolution": 0.4, "satisfaction": 0.4})


def rates(accept, resolution, satisfaction):
    return {
        "ontime_accept_rate": accept,
        "resolution_rate": resolution,
        "satisfaction_rate": satisfaction,
    }


def test_three_rate_score_renormalises_missing_rates():
    assert three_rate_score(rates(1.0, 0.5, 0.5), WEIGHTS) == pytest.approx(0.6)
    # no ratings: only on-time accept counts, with its weight scaled to 1
    assert three_rate_score(rates(0.8, None, None), WEIGHTS) == pytest.approx(0.8)
    assert three_rate_score(rates(None, 1.0, 0.5), WEIGHTS) == pytest.approx(0.75)
    assert three_rate_score(rates(None, None, None), WEIGHTS) is None


def test_weights_are_checked():
    with pytest.raises(ValueError):
        three_rate_weights({"ontime_accept": 1.0})
    with pytest.raises(ValueError):
        three_rate_weights({"ontime_accept": 0, "resolution": 0, "satisfaction": 0})


def test_competition_ranks_and_trend():
    assert competition_ranks([0.5, 0.9, None, 0.5, 0.1]) == [2, 1, None, 2, 4]
    now = [
        {"key": "A", "name": "甲", **rates(1, 1, 1), "three_rate_score": 1.0},
        {"key": "B", "name": "乙", **rates(0.5, 0.5, 0.5), "three_rate_score": 0.5},
        {"key": "C", "name": "丙", **rates(None, None, None), "three_rate_score": None},
        {"key": None, "name": "未派单", **rates(None, 1, 1), "three_rate_score": 1.0},
    ]
    before = [
        {"key": "B", "name": "乙", "three_rate_score": 0.9},
        {"key": "A", "name": "甲", "three_rate_score": 0.7},
    ]
    ranked = rank_units(now, before)
    assert [(r["key"], r["rank"], r["previous_rank"], r["rank_change"]) for r in ranked] == [
        ("A", 1, 2, 1),
        ("B", 2, 1, -1),
        ("C", None, None, None),
    ]
    assert ranked[0]["delta"] == pytest.approx(0.3)


def test_period_previous_and_validation():
    p = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert p.previous() == Period(datetime(2026, 10, 2, tzinfo=UTC), p.start)
    with pytest.raises(ValueError):
        Period(p.end, p.start)
