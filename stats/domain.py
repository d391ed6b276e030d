"""KPI definitions (DESIGN §7), periods, the 三率 score and the unit ranking — pure.

No database and no clock here. The SQL that computes each KPI lives in
`stats/queries.py`, once per KPI; this module says what the KPIs are called, in which
order they are reported, what their Chinese headers are and which orders a period
takes in. Every KPI is a fraction 0–1 (ASA is seconds), `None` when its denominator
is 0 in the period.

Which timestamp puts an order (or an event) into a period [from, to), per KPI
(numerator / denominator — anchor):

- direct_rate 直办率: orders answered directly (flag `direct`, or an `answer` event) /
  orders registered — `created_at` in the period; merged and invalid orders are left
  out of both (they are not requests anyone handles).
- ontime_accept_rate 按时签收率: accepted with `accepted_at <= accept_due` / orders
  dispatched — first `dispatched_at` in the period; both times belong to the latest
  (re-)dispatch, so a late acceptance after a return counts as late; an order not accepted yet whose
  `accept_due` is still ahead of *now* is not judged yet and left out of both.
- ontime_finish_rate 按时办结率: replied with `replied_at <= finish_due` / orders
  replied — `replied_at` in the period; only orders that have a `finish_due`
  (dispatched ones: a direct answer has no deadline).
- completion_rate 办结率: closed (`closed_at` set, as of now) / orders due —
  `finish_due` in the period.
- return_rate 退单率: `return` events to state returned (a sub-unit handing an order
  back to its lead unit is not a 退单) / `dispatch` + `redispatch` events — event `at`
  in the period; both are attributed to the unit the event names, not to the order's
  current lead unit (a unit that returned an order keeps its return).
- extension_rate 延期率: orders with at least one approved extension / orders
  dispatched — `dispatched_at` in the period.
- reopen_rate 重办率: closed orders that were reopened at least once / orders closed
  — `closed_at` in the period.
- callback_rate 回访率: replied orders with a `callback` event by the centre (agent,
  supervisor, the survey dialer — not a citizen's own rating on the web) at or after
  their reply / orders replied — `replied_at` in the period.
- satisfaction_rate 满意率: (满意 + 基本满意) / ratings — `callback` events in the
  period (every rating given counts, also one that later reopens the order).
- resolution_rate 解决率: ratings with resolved = true / ratings — `callback` events
  in the period.
- three_rate_score 三率: weighted ontime_accept_rate, resolution_rate,
  satisfaction_rate (below).
- connection_rate, service_level_15s, asa_seconds, abandon_rate: from the call
  records once they exist; `None` until then (`queries.call_kpis`).

Orders are grouped by their current lead unit (主办单位), hotline, category, district,
channel or registering agent (`created_by`), or not at all (`total`: one row); the unit
of an event KPI is the unit the event names. The 三率 score is the weighted mean of
the three rates with weights from `settings.kpi.three_rate_weights`; a rate that is
`None` (nothing to measure in the period) drops out and the remaining weights are
renormalised, so a unit is not punished — or rewarded — for having had no ratings;
the score is `None` when all three are `None`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Dimension(StrEnum):
    """What a KPI table is grouped by (the `group_by` parameter)."""

    UNIT = "unit"
    HOTLINE = "hotline"
    CATEGORY = "category"
    DISTRICT = "district"
    CHANNEL = "channel"
    AGENT = "agent"
    TOTAL = "total"  # one row: the whole scope


DIMENSION_LABELS = {
    Dimension.UNIT: "承办单位",
    Dimension.HOTLINE: "热线",
    Dimension.CATEGORY: "分类",
    Dimension.DISTRICT: "区域",
    Dimension.CHANNEL: "渠道",
    Dimension.AGENT: "话务员",
    Dimension.TOTAL: "汇总",
}

# Shown as `name` of the group whose key is NULL (e.g. orders never dispatched).
NO_KEY_LABELS = {
    Dimension.UNIT: "未派单(中心直办等)",
    Dimension.HOTLINE: "未知热线",
    Dimension.CATEGORY: "未分类",
    Dimension.DISTRICT: "未知区域",
    Dimension.CHANNEL: "未知渠道",
    Dimension.AGENT: "未知",
    Dimension.TOTAL: "全部",
}

CHANNEL_LABELS = {
    "phone": "电话",
    "web": "网站",
    "app": "APP",
    "wechat": "微信",
    "sms": "短信",
    "email": "电子邮件",
    "open311": "Open311接口",
    "inspector": "网格员上报",
}


class KpiKind(StrEnum):
    RATE = "rate"  # fraction 0–1
    SECONDS = "seconds"
    SCORE = "score"  # weighted mean of rates, 0–1


@dataclass(frozen=True)
class Kpi:
    name: str  # API name (DESIGN §7)
    label: str  # Chinese column header
    kind: KpiKind
    from_calls: bool = False


# In the order of DESIGN §7 — the API, the exports and the charts use this order.
KPIS: tuple[Kpi, ...] = (
    Kpi("connection_rate", "接通率", KpiKind.RATE, from_calls=True),
    Kpi("service_level_15s", "15秒接通率", KpiKind.RATE, from_calls=True),
    Kpi("asa_seconds", "平均应答时长(秒)", KpiKind.SECONDS, from_calls=True),
    Kpi("abandon_rate", "呼损率", KpiKind.RATE, from_calls=True),
    Kpi("direct_rate", "直办率", KpiKind.RATE),
    Kpi("ontime_accept_rate", "按时签收率", KpiKind.RATE),
    Kpi("ontime_finish_rate", "按时办结率", KpiKind.RATE),
    Kpi("completion_rate", "办结率", KpiKind.RATE),
    Kpi("return_rate", "退单率", KpiKind.RATE),
    Kpi("extension_rate", "延期率", KpiKind.RATE),
    Kpi("reopen_rate", "重办率", KpiKind.RATE),
    Kpi("callback_rate", "回访率", KpiKind.RATE),
    Kpi("satisfaction_rate", "满意率", KpiKind.RATE),
    Kpi("resolution_rate", "解决率", KpiKind.RATE),
    Kpi("three_rate_score", "三率综合得分", KpiKind.SCORE),
)
KPI_NAMES: tuple[str, ...] = tuple(k.name for k in KPIS)
CALL_KPIS: tuple[str, ...] = tuple(k.name for k in KPIS if k.from_calls)
ORDER_RATE_KPIS: tuple[str, ...] = tuple(
    k.name for k in KPIS if not k.from_calls and k.kind == KpiKind.RATE
)

# The three rates of the 三率 score, by their key in `settings.kpi.three_rate_weights`.
THREE_RATES: Mapping[str, str] = {
    "ontime_accept": "ontime_accept_rate",  # 响应率
    "resolution": "resolution_rate",  # 解决率
    "satisfaction": "satisfaction_rate",  # 满意率
}


def three_rate_weights(configured: Mapping[str, float]) -> dict[str, float]:
    """The configured weights keyed by KPI name; all three must be there and >= 0."""
    missing = set(THREE_RATES) - set(configured)
    if missing:
        raise ValueError(f"kpi.three_rate_weights lacks {sorted(missing)}")
    weights = {THREE_RATES[k]: float(configured[k]) for k in THREE_RATES}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("kpi.three_rate_weights must be >= 0 and not all 0")
    return weights


def three_rate_score(
    rates: Mapping[str, float | None], weights: Mapping[str, float]
) -> float | None:
    """Reference definition of the score (the SQL in queries.py computes the same).

    Weighted mean over the rates that are not `None`, weights renormalised; `None`
    when no rate is available.
    """
    present = {k: w for k, w in weights.items() if rates.get(k) is not None and w > 0}
    total = sum(present.values())
    if not present:
        return None
    return sum(w * rates[k] for k, w in present.items()) / total


# ---------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of equal length just before this one (for trends)."""
        return Period(self.start - self.length, self.start)


# ---------------------------------------------------------------------- ranking

SCORE = "three_rate_score"


def competition_ranks(scores: Sequence[float | None]) -> list[int | None]:
    """1224 ranking by score, best first; `None` scores get no rank."""
    ordered = sorted((s for s in scores if s is not None), reverse=True)
    first = {}
    for position, score in enumerate(ordered, start=1):
        first.setdefault(score, position)
    return [first[s] if s is not None else None for s in scores]


def rank_units(
    current: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Unit ranking by the 三率 score with the trend against the previous period.

    `current` and `previous` are KPI rows (`key`, `name`, KPIs; `dispatched` when counted).
    Each answer row holds the rank, `orders` (the orders dispatched to it), the three
    rates and the score now, the previous score and rank, `delta` (score now minus
    before) and `rank_change` (positive = moved up). Rows without a key (orders never
    dispatched) are not units and are left out; units without a score are listed last,
    unranked.
    """
    rows = [r for r in current if r["key"] is not None]
    ranks = competition_ranks([r[SCORE] for r in rows])
    before = [r for r in previous if r["key"] is not None]
    before_rank = dict(
        zip((r["key"] for r in before), competition_ranks([r[SCORE] for r in before]), strict=True)
    )
    before_score = {r["key"]: r[SCORE] for r in before}
    answer = []
    for row, rank in zip(rows, ranks, strict=True):
        prev_score, prev_rank = before_score.get(row["key"]), before_rank.get(row["key"])
        score = row[SCORE]
        answer.append(
            {
                "rank": rank,
                "key": row["key"],
                "name": row["name"],
                "orders": row.get("dispatched"),  # 工单数: dispatched to the unit in the period
                **{name: row[name] for name in THREE_RATES.values()},
                SCORE: score,
                "previous_score": prev_score,
                "previous_rank": prev_rank,
                "delta": None if score is None or prev_score is None else score - prev_score,
                "rank_change": None if rank is None or prev_rank is None else prev_rank - rank,
            }
        )
    answer.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["key"]))
    return answer
