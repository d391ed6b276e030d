"""The SVG charts draw the numbers they are given, and escape the text."""

from __future__ import annotations

import re
from datetime import date, timedelta

from stats import charts

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]


def test_stacked_bars_carry_each_days_total_and_each_series():
    svg = charts.stacked_bars(
        DAYS,
        [charts.Series("电话", [3, 0, 5]), charts.Series("<网站>", [1, 2, 0])],
        title="每日受理量",
    )
    totals = re.findall(r'data-day="([\d-]+)" data-total="(\d+)"', svg)
    assert totals == [("2026-11-01", "4"), ("2026-11-02", "2"), ("2026-11-03", "5")]
    assert svg.count("<rect") == 4 + 2  # four non-empty segments, two legend keys
    assert "&lt;网站&gt;(3)" in svg and "<网站>" not in svg
    # the tallest bar reaches the axis maximum (5 is its own nice ceiling)
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill', svg)]
    assert max(heights) == 220 - 10 - 24  # the plot height


def test_nice_ceiling():
    assert [charts.nice_ceiling(v) for v in (0, 3, 7, 10, 11, 101, 2400)] == [
        1,
        5,
        10,
        10,
        20,
        200,
        5000,
    ]


def test_gauge_shows_the_rate_and_marks_a_missed_target():
    svg = charts.gauge(0.8125, "满意率", target=0.9)
    assert 'data-value="0.812500"' in svg and "81.2%" in svg
    assert "#c0392b" in svg  # below the target: red
    assert "#27ae60" in charts.gauge(0.95, "满意率", target=0.9)
    empty = charts.gauge(None, "解决率")
    assert 'data-value=""' in empty and "—" in empty and 'stroke-width="14"' in empty


def test_ranking_bars_in_the_given_order_with_trend():
    svg = charts.ranking_bars(
        [
            charts.RankBar("城管局", 0.95, 1, 0.02),
            charts.RankBar("住建局", 0.71, 2, -0.05),
            charts.RankBar("新单位", None, None),
        ],
        title="三率排名",
    )
    assert re.findall(r'data-name="([^"]+)" data-score="([^"]+)"', svg) == [
        ("城管局", "95.0"),
        ("住建局", "71.0"),
        ("新单位", "—"),
    ]
    assert "▲2.0" in svg and "▼5.0" in svg


def test_heat_and_keyword_levels():
    assert [charts.heat_level(v, 10) for v in (0, 1, 2, 5, 10)] == [0, 1, 1, 3, 5]
    assert charts.heat_level(3, 0) == 0
    levels = charts.keyword_levels([("噪音", 100), ("路灯", 10), ("停车", 1)])
    assert levels == [("噪音", 100, 5), ("路灯", 10, 2), ("停车", 1, 0)]
    assert charts.keyword_levels([]) == []
