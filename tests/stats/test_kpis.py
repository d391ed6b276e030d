"""Every order KPI on the hand-built week of tests/stats/scenario.py, computed by hand.

The period rules are those of stats/domain.py; the expected values below are worked
out order by order in the comments (Ox refers to the scenario's table).
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.domain import CITIZEN_ACTOR
from app.keys import DISPATCH
from stats.domain import KPI_NAMES
from tests.api.conftest import make_api
from tests.stats import scenario

NOVEMBER = "from=2026-11-01&to=2026-12-01"
CALL_KPIS = ("connection_rate", "service_level_15s", "asa_seconds", "abandon_rate")


async def kpis(api, query: str, user: str = "supervisor") -> dict[Any, dict]:
    body = await api.call("GET", f"/api/v1/stats/kpis?{query}", user)
    assert list(body) == ["rows"]
    # grouped by agent, the 质检 score follows the KPIs of §7 (stats.queries.qa_kpis)
    qa = ["qa_score", "qa_reviews"] if "group_by=agent" in query else []
    for row in body["rows"]:
        assert list(row) == ["key", "name", *KPI_NAMES, *qa]
        assert all(row[k] is None for k in CALL_KPIS)  # no call records yet
    return {row["key"]: row for row in body["rows"]}


def check(row: dict, **expected: float | None) -> None:
    for name, value in expected.items():
        if value is None:
            assert row[name] is None, (row["key"], name, row[name])
        else:
            assert row[name] == pytest.approx(value), (row["key"], name, row[name])


async def test_kpis_by_unit_hand_computed(aiohttp_client, any_db_url, clock):
    """Runs on SQLite and PostgreSQL: the same SQL must give the same numbers."""
    api = await make_api(aiohttp_client, any_db_url, clock)
    await scenario.build(api, clock)
    rows = await kpis(api, f"{NOVEMBER}&group_by=unit")
    # units in tree order (ZJJ, ZJJ-WY, CGJ, DHQ), the no-unit group last
    assert list(rows) == ["ZJJ", "ZJJ-WY", "CGJ", "DHQ", None]
    assert rows["CGJ"]["name"] == "市城管局"
    check(
        rows["CGJ"],  # lead unit of O1, O2, O6
        direct_rate=0 / 3,  # registered O1 O2 O6, none answered directly
        ontime_accept_rate=1 / 3,  # O1 10:30 <= 12:00; O2 14:00 late; O6 never, due passed
        ontime_finish_rate=1 / 2,  # replied in Nov: O1 (due Dec, on time), O2 (Thu > Wed, late)
        completion_rate=1 / 2,  # due in Nov: O2 (closed), O6 (open); O1 is due in December
        return_rate=0 / 3,  # dispatch events to CGJ: O1 O2 O6; no 退单
        extension_rate=0 / 3,  # dispatched O1 O2 O6, no extension
        reopen_rate=1 / 2,  # closed in Nov: O1 (reopened once), O2
        callback_rate=2 / 2,  # replied O1, O2: both called back after the reply
        satisfaction_rate=2 / 3,  # ratings: O1 不满意, O1 满意, O2 满意
        resolution_rate=2 / 3,  # O1 no, O1 yes, O2 yes
        three_rate_score=0.2 * (1 / 3) + 0.4 * (2 / 3) + 0.4 * (2 / 3),  # = 0.6
    )
    assert rows["CGJ"]["three_rate_score"] == pytest.approx(0.6)

    # One row for everything (the two hotlines of test_kpis_by_other_groupings together)
    total = await kpis(api, f"{NOVEMBER}&group_by=total")
    assert list(total) == ["all"] and total["all"]["name"] == "全部"
    check(
        total["all"],
        direct_rate=1 / 8,  # O4 of O1 O2 O3 O4 O6 O7 O8 O9
        ontime_accept_rate=3 / 6,  # judged O1 O2 O3 O6 O7 O9: on time O1 O3 O7
        completion_rate=1 / 6,  # due in Nov: O2 O3 O6 O7 O8 O9; closed O2
        return_rate=1 / 8,  # dispatch events O1 O2 O3 O3 O6 O7 O8 O9; 退单 O3
        satisfaction_rate=3 / 4,
        three_rate_score=0.2 * 0.5 + 0.4 * 0.75 + 0.4 * 0.75,
    )
    check(
        rows["DHQ"],  # lead unit of O3 (after the re-dispatch) and O8
        direct_rate=0 / 2,
        ontime_accept_rate=1 / 1,  # O3 14:00 <= 14:30; O8 not judged yet (due Thu 12:00)
        ontime_finish_rate=1 / 1,  # O3 replied Wed 09:30, due Wed 10:30 at the earliest
        completion_rate=0 / 2,  # due in Nov: O3 and O8 (Mon 30 Nov 10:00), neither closed
        return_rate=0 / 2,  # dispatch events to DHQ: O3 redispatch, O8 dispatch
        extension_rate=1 / 2,  # O3 extended
        reopen_rate=None,  # nothing closed
        callback_rate=0 / 1,  # O3 replied, no callback
        satisfaction_rate=None,  # no rating
        resolution_rate=None,
        three_rate_score=1.0,  # only on-time accept (1.0) is defined: weights renormalised
    )
    check(
        rows["ZJJ"],  # lead unit of O7; also returned O3 before it went to DHQ
        direct_rate=0 / 1,
        ontime_accept_rate=1 / 1,  # O7 accepted 10:30
        ontime_finish_rate=1 / 1,  # O7 replied Mon 11:00, due Wed
        completion_rate=0 / 1,  # O7 due Wed, not closed
        return_rate=1 / 2,  # dispatch events to ZJJ: O3, O7; 退单: O3 (O7's hand-back is not)
        extension_rate=0 / 1,
        reopen_rate=None,
        callback_rate=0 / 1,
        satisfaction_rate=None,
        resolution_rate=None,
        three_rate_score=1.0,
    )
    check(
        rows["ZJJ-WY"],  # lead unit of O9
        direct_rate=0.0,
        ontime_accept_rate=0 / 1,  # accepted Mon 14:00, due 12:00
        ontime_finish_rate=None,
        completion_rate=0 / 1,
        return_rate=0 / 1,
        extension_rate=0.0,
        reopen_rate=None,
        callback_rate=None,
        satisfaction_rate=None,
        three_rate_score=0.0,
    )
    check(
        rows[None],  # O4, answered on the spot, never dispatched (O5 invalid: nowhere)
        direct_rate=1 / 1,
        ontime_accept_rate=None,
        ontime_finish_rate=None,  # a direct answer has no finish deadline
        completion_rate=None,
        return_rate=None,
        reopen_rate=0 / 1,  # O4 closed Mon 10:30
        callback_rate=1 / 1,
        satisfaction_rate=1 / 1,  # 基本满意 counts as satisfied
        resolution_rate=1 / 1,
        three_rate_score=1.0,
    )

    # With sub-units, rolled up to level 1: ZJJ = ZJJ + ZJJ-WY
    rolled = await kpis(api, f"{NOVEMBER}&group_by=unit&include_sub_units=true&level=1")
    assert list(rolled) == ["ZJJ", "CGJ", "DHQ", None]
    check(
        rolled["ZJJ"],
        direct_rate=0 / 2,  # O7, O9
        ontime_accept_rate=1 / 2,  # O7 on time, O9 late
        ontime_finish_rate=1 / 1,  # O7
        completion_rate=0 / 2,  # O7, O9 due Wed, open
        return_rate=1 / 3,  # dispatches O3, O7 (ZJJ), O9 (ZJJ-WY); 退单 O3
        callback_rate=0 / 1,
        three_rate_score=0.5,
    )
    assert rolled["CGJ"] == rows["CGJ"]


async def test_kpis_by_other_groupings(api, clock):
    await scenario.build(api, clock)
    hotlines = await kpis(api, f"{NOVEMBER}&group_by=hotline")
    assert list(hotlines) == ["12319", "12345"]
    assert hotlines["12345"]["name"] == "12345政务服务便民热线"
    check(
        hotlines["12345"],  # all but O6 (O5 is invalid)
        direct_rate=1 / 7,  # O4 of O1 O2 O3 O4 O7 O8 O9
        ontime_accept_rate=3 / 5,  # judged O1 O2 O3 O7 O9 (O8 not yet): on time O1 O3 O7
        ontime_finish_rate=3 / 4,  # replied with a due: O1 O2 O3 O7; late O2
        completion_rate=1 / 5,  # due in Nov: O2 O3 O7 O8 O9; closed O2
        return_rate=1 / 7,  # dispatch events O1 O2 O3 O3 O7 O8 O9; 退单 O3
        extension_rate=1 / 6,  # dispatched O1 O2 O3 O7 O8 O9; extended O3
        reopen_rate=1 / 3,  # closed O1 (reopened) O2 O4
        callback_rate=3 / 5,  # replied O1 O2 O3 O4 O7; called back O1 O2 O4
        satisfaction_rate=3 / 4,  # ratings O1 不满意, O1 满意, O2 满意, O4 基本满意
        resolution_rate=3 / 4,
        three_rate_score=0.2 * 0.6 + 0.4 * 0.75 + 0.4 * 0.75,  # = 0.72
    )
    check(
        hotlines["12319"],  # O6 only
        direct_rate=0.0,
        ontime_accept_rate=0.0,
        completion_rate=0.0,
        return_rate=0.0,
        reopen_rate=None,
        satisfaction_rate=None,
        three_rate_score=0.0,
    )

    channels = await kpis(api, f"{NOVEMBER}&group_by=channel")
    assert {k: r["name"] for k, r in channels.items()} == {
        "phone": "电话",
        "web": "网站",
        "wechat": "微信",
    }
    check(channels["wechat"], direct_rate=1.0, satisfaction_rate=1.0)  # O4
    check(channels["web"], ontime_accept_rate=0.0, ontime_finish_rate=0.0)  # O2 late twice
    check(channels["phone"], direct_rate=0 / 6)  # O1 O3 O6 O7 O8 O9

    agents = await kpis(api, f"{NOVEMBER}&group_by=agent")
    assert list(agents) == ["agent", "dispatcher"]
    check(agents["agent"], direct_rate=1 / 7)  # the 12345 orders
    check(agents["dispatcher"], ontime_accept_rate=0.0)  # O6

    districts = await kpis(api, f"{NOVEMBER}&group_by=district")
    assert list(districts) == ["东湖区", "西湖区"]  # O5 (no district) is invalid: no row
    check(districts["西湖区"], direct_rate=1 / 3, extension_rate=1 / 2)  # O3 O4 O8
    check(districts["东湖区"], ontime_accept_rate=2 / 5)  # O1 O7 on time; O2 O6 O9 late

    categories = await kpis(api, f"{NOVEMBER}&group_by=category")
    assert list(categories) == ["HJ", None]
    assert categories["HJ"]["name"] == "环境卫生" and categories[None]["name"] == "未分类"
    check(categories["HJ"], reopen_rate=1.0, satisfaction_rate=1 / 2)  # O1

    # Thursday only: the anchors pick different orders
    thursday = await kpis(api, "from=2026-11-26&to=2026-11-27&group_by=hotline")
    check(
        thursday["12345"],
        direct_rate=0 / 1,  # registered Thu: O8
        ontime_accept_rate=None,  # dispatched Thu: O8, not judged yet
        ontime_finish_rate=0 / 1,  # replied Thu: O2, late
        callback_rate=1 / 1,  # O2 called back
        reopen_rate=1 / 2,  # closed Thu: O1 (reopened), O2
        return_rate=0 / 1,  # dispatch events Thu: O8
        satisfaction_rate=2 / 2,  # ratings Thu: O1 满意, O2 满意
        resolution_rate=2 / 2,
    )


async def test_scope_roles_and_bad_parameters(api, clock):
    await scenario.build(api, clock)
    # a unit user sees its own subtree only
    zjj = await kpis(api, f"{NOVEMBER}&group_by=unit", user="zjj")
    assert list(zjj) == ["ZJJ", "ZJJ-WY"]
    zjj_hotlines = await kpis(api, f"{NOVEMBER}&group_by=hotline", user="zjj")
    # 12345 facts of ZJJ and ZJJ-WY: dispatched O3 O7 O9 -> judged on time: O7 of O7 O9
    # (O3's order row now belongs to DHQ); 退单 O3 by ZJJ of dispatches O3 O7 O9
    check(zjj_hotlines["12345"], ontime_accept_rate=1 / 2, return_rate=1 / 3)
    rolled = await kpis(api, f"{NOVEMBER}&include_sub_units=true", user="zjj_wy")
    assert list(rolled) == ["ZJJ-WY"]  # never rolled above the user's own unit
    # a sub-platform manager sees the hotlines they manage (no 12350 orders here)
    assert await kpis(api, f"{NOVEMBER}&group_by=hotline", user="aq_dispatcher") == {}
    for user in ("agent", "inspector"):
        await api.call("GET", f"/api/v1/stats/kpis?{NOVEMBER}", user, expect=403)
    await api.call("GET", f"/api/v1/stats/kpis?{NOVEMBER}", expect=401)

    bad = [
        "from=2026-11-01",  # no end
        "from=2026-12-01&to=2026-11-01",  # reversed
        "from=2026-11-01&to=2026-11-01",  # empty
        "from=2026-13-01&to=2026-12-01",  # no such month
        "from=2026-11-01T00:00:00&to=2026-12-01",  # a time without an offset
        "from=2020-01-01&to=2026-12-01",  # too long
        f"{NOVEMBER}&group_by=street",
        f"{NOVEMBER}&level=0",
        f"{NOVEMBER}&include_sub_units=maybe",
        f"{NOVEMBER}&colour=red",
    ]
    for query in bad:
        body = await api.call("GET", f"/api/v1/stats/kpis?{query}", "supervisor", expect=400)
        assert set(body["error"]) == {"code", "message"}, query
    # a date-time with an offset is a valid bound
    rows = await kpis(api, "from=2026-11-23T00:00:00%2B08:00&to=2026-11-24&group_by=hotline")
    assert set(rows) == {"12319", "12345"}


async def test_ranking_with_trend(api, clock):
    await scenario.build(api, clock)
    body = await api.call(
        "GET", "/api/v1/stats/ranking?from=2026-11-24&to=2026-11-30", "supervisor"
    )
    assert body["previous_from"] == "2026-11-18T00:00:00+08:00"
    assert body["previous_to"] == "2026-11-24T00:00:00+08:00"
    rows = {r["key"]: r for r in body["rows"]}
    assert [r["key"] for r in body["rows"]] == ["CGJ", "DHQ", "ZJJ"]  # unranked last
    # Now (Tue–Sun): CGJ has no dispatch, ratings O1 满意 and O2 满意 -> score 1.0.
    # Before (Mon): CGJ on-time accept 1/3, rating O1 不满意/unresolved -> 0.2/3 = 0.0667,
    # rank 3 behind DHQ (O3 on time: 1.0) and ZJJ with ZJJ-WY (O7 on time, O9 late: 0.5).
    cgj = rows["CGJ"]
    assert cgj["rank"] == 1 and cgj["three_rate_score"] == pytest.approx(1.0)
    assert cgj["previous_score"] == pytest.approx(0.2 / 3)
    assert cgj["previous_rank"] == 3
    assert cgj["delta"] == pytest.approx(1.0 - 0.2 / 3)
    assert cgj["rank_change"] == 2
    assert rows["DHQ"]["rank"] is None and rows["DHQ"]["previous_rank"] == 1
    assert rows["ZJJ"]["previous_score"] == pytest.approx(0.5)
    assert rows["ZJJ"]["previous_rank"] == 2 and rows["ZJJ"]["rank_change"] is None


async def test_a_citizens_own_rating_is_rated_but_not_a_callback(api, clock):
    """回访率 counts the centre's callbacks; 满意率/解决率 count every rating given."""
    numbers = []
    for _ in range(2):
        number = (await api.register(type="consultation"))["number"]
        await api.act("dispatcher", number, "dispatch", unit="CGJ")
        await api.act("cgj", number, "accept")
        await api.act("cgj", number, "reply", text="已处理")
        await api.act("supervisor", number, "review", approve=True)
        numbers.append(number)
    service = api.client.app[DISPATCH]
    await service.act(CITIZEN_ACTOR, numbers[0], "callback", {"rating": "very_satisfied",
                                                              "resolved": True})  # fmt: skip
    await api.act("supervisor", numbers[1], "callback", satisfaction="basic", resolved=True)

    rows = await kpis(api, "from=2026-11-23&to=2026-11-24&group_by=total")
    check(rows["all"], callback_rate=1 / 2, satisfaction_rate=2 / 2, resolution_rate=2 / 2)
