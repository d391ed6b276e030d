"""The emerging-issue detector on synthetic series, with and without a burst."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from stats.emerging import DetectorParams, check_day, detect, detect_all, poisson_upper_tail

PARAMS = DetectorParams()


@pytest.mark.parametrize("k", [1, 2, 3, 7, 20, 150])
@pytest.mark.parametrize("mean", [0.2, 1.0, 4.5, 30.0, 400.0])
def test_poisson_tail_matches_scipy(k, mean):
    assert poisson_upper_tail(k, mean) == pytest.approx(poisson.sf(k - 1, mean), rel=1e-9)


def test_quiet_series_and_too_little_history_raise_nothing():
    assert detect([2, 3, 1, 2, 2, 3, 2, 1, 2, 3, 2]) == []
    assert check_day(50, [1, 1, 1]) is None  # fewer than min_history days
    assert check_day(2, [0] * 14) is None  # below min_count
    # a silent cell: the baseline floor keeps 3 requests from being "emerging"…
    assert check_day(3, [0] * 14) is None
    # …but 6 on a day after two quiet weeks is
    assert check_day(6, [0] * 14) is not None


def test_days_before_the_data_are_no_baseline():
    # The service started on day 14: its first busy day is not "above" the empty past.
    counts = [0] * 14 + [6, 5, 7, 6, 5, 6, 7, 6, 20]
    assert [a.index for a in detect(counts, PARAMS)] == [14, 22]  # day 14 vs. zeros
    observed = detect(counts, PARAMS, observed_from=14)
    assert [a.index for a in observed] == [22]  # only the real burst, against 8 days


def test_burst_is_found_on_its_day():
    rng = np.random.default_rng(1)
    counts = list(rng.poisson(3.0, 30))
    counts[25] = 18  # a burst: six times the usual
    alerts = detect(counts, PARAMS, start=14)
    assert [a.index for a in alerts] == [25]
    alert = alerts[0]
    assert alert.count == 18 and 2 < alert.baseline < 4 and alert.p_value < PARAMS.alpha


def test_false_alarm_rate_without_bursts():
    """Measured: Poisson series, means 0.5–20 a day, 2,000 series × 46 tested days."""
    rng = np.random.default_rng(42)
    tested = alarms = 0
    for mean in (0.5, 2.0, 5.0, 20.0):
        for _ in range(500):
            counts = list(rng.poisson(mean, 60))
            alarms += len(detect(counts, PARAMS, start=PARAMS.baseline_days))
            tested += 60 - PARAMS.baseline_days
    rate = alarms / tested
    assert rate < 0.001, rate  # below 1 false alarm per 1,000 series-days


def overdispersed_false_alarm_rate(params: DetectorParams) -> float:
    rng = np.random.default_rng(7)
    tested = alarms = 0
    for mean in (2.0, 5.0, 20.0):
        p = 1 / 3  # negative binomial with variance = mean / p = 3 × mean
        n = mean * p / (1 - p)
        for _ in range(500):
            counts = list(rng.negative_binomial(n, p, 60))
            alarms += len(detect(counts, params, start=params.baseline_days))
            tested += 60 - params.baseline_days
    return alarms / tested


def test_false_alarm_rate_on_overdispersed_series():
    """Days varying 3 × more than Poisson: where a plain Poisson test fails.

    Measured: plain Poisson (max_dispersion=1) 3.9 % of series-days, the quasi-Poisson
    correction 0.9 % — better, still above the Poisson figure: a known limit.
    """
    plain = overdispersed_false_alarm_rate(DetectorParams(max_dispersion=1.0))
    corrected = overdispersed_false_alarm_rate(PARAMS)
    assert corrected < 0.015, corrected
    assert corrected < plain / 3, (corrected, plain)


def test_detection_rate_on_bursts():
    """A burst of 3 × baseline + 5 on the last day is caught in more than 95 % of series."""
    rng = np.random.default_rng(3)
    found = total = 0
    for mean in (0.5, 2.0, 5.0, 20.0):
        for _ in range(250):
            counts = list(rng.poisson(mean, 30))
            counts[-1] = int(3 * mean + 5)
            found += any(a.index == 29 for a in detect(counts, PARAMS, start=29))
            total += 1
    assert found / total > 0.95, found / total


def test_detect_all_orders_by_strength():
    quiet = [2] * 20
    small = [2] * 19 + [9]
    big = [2] * 19 + [30]
    found = detect_all({"quiet": quiet, "small": small, "big": big}, PARAMS, start=19)
    assert [key for key, _ in found] == ["big", "small"]
