"""Call KPIs from the call records, on a hand-built set of calls (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from app.keys import SESSIONS
from callcenter.storage import Call
from tests.api.conftest import make_api
from tests.conftest import MONDAY_10AM

T = MONDAY_10AM
# (id, hotline, agent, answered after s, outcome); SQLite measures waits via julianday,
# which is exact to about 1e-4 s
CALLS = [
    ("c1", "12345", "agent", 5, "completed"),
    ("c2", "12345", "agent", 20, "completed"),
    ("c3", "12345", None, None, "abandoned"),
    ("c4", "12345", "agent", 10, "completed"),
    ("c5", "12319", "agent", 30, "completed"),
]


async def test_call_kpis_by_hotline(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    async with api.client.app[SESSIONS]() as session, session.begin():
        await session.execute(
            insert(Call),
            [
                {
                    "id": cid,
                    "hotline": hotline,
                    "caller": "13800000000",
                    "offered_at": T,
                    "answered_at": T + timedelta(seconds=wait) if wait is not None else None,
                    "ended_at": T + timedelta(minutes=3),
                    "agent": agent,
                    "outcome": outcome,
                    "intake": "test",
                }
                for cid, hotline, agent, wait, outcome in CALLS
            ],
        )
        # outside the period: ignored
        await session.execute(
            insert(Call),
            [
                {
                    "id": "old",
                    "hotline": "12345",
                    "caller": "1",
                    "offered_at": T - timedelta(days=9),
                    "answered_at": None,
                    "ended_at": None,
                    "agent": None,
                    "outcome": "abandoned",
                    "intake": "test",
                }
            ],
        )
    await api.register(hotline="12345")  # an order, so 12345 also has order KPIs
    rows = await api.call(
        "GET", "/api/v1/stats/kpis?from=2026-11-23&to=2026-11-24&group_by=hotline", "supervisor"
    )
    by_key = {r["key"]: r for r in rows["rows"]}
    # 12345: 4 offered, 3 answered, 2 within 15 s (5 s, 10 s), waits 5+20+10 -> ASA 35/3
    h = by_key["12345"]
    assert h["connection_rate"] == 0.75 and h["service_level_15s"] == 0.5
    assert abs(h["asa_seconds"] - 35 / 3) < 1e-3 and h["abandon_rate"] == 0.25
    # 12319 has calls but no orders: 1 offered, answered after 30 s
    h = by_key["12319"]
    assert (h["connection_rate"], h["service_level_15s"], h["abandon_rate"]) == (1.0, 0.0, 0.0)
    assert abs(h["asa_seconds"] - 30) < 1e-3 and h["direct_rate"] is None

    agents = await api.call(
        "GET", "/api/v1/stats/kpis?from=2026-11-23&to=2026-11-24&group_by=agent", "supervisor"
    )
    agent = next(r for r in agents["rows"] if r["key"] == "agent")
    assert agent["connection_rate"] == 1.0 and abs(agent["asa_seconds"] - 65 / 4) < 1e-3
    by_unit = await api.call(
        "GET", "/api/v1/stats/kpis?from=2026-11-23&to=2026-11-24&group_by=unit", "supervisor"
    )
    assert all(r["connection_rate"] is None for r in by_unit["rows"])
