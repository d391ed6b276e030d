"""The weekly 质检 sample on a real database (SQLite and PostgreSQL) and by the CLI."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.keys import SESSIONS
from quality.domain import IsoWeek
from quality.services import sample_week
from quality.storage import QaReview
from tests.api.conftest import make_api
from tests.conftest import MONDAY_10AM
from tests.quality.conftest import add_calls, bad_rating, link_call

TZ = ZoneInfo("Asia/Shanghai")
WEEK = IsoWeek(2026, 48)  # MONDAY_10AM is Monday 2026-11-23, 10:00 in Shanghai


async def _sample(api, per_agent: int = 3, week: IsoWeek = WEEK):
    async with api.client.app[SESSIONS]() as session, session.begin():
        return await sample_week(session, week, per_agent, TZ, MONDAY_10AM)


async def _reviews(api) -> list[tuple[str, str, str, str]]:
    async with api.client.app[SESSIONS]() as session:
        rows = await session.scalars(select(QaReview).order_by(QaReview.call_id))
        return [(r.call_id, r.agent, r.week, r.reason) for r in rows]


async def test_sample_is_deterministic_and_adds_bad_ratings(
    aiohttp_client, any_db_url, clock, tmp_path
):
    api = await make_api(aiohttp_client, any_db_url, clock)
    at = MONDAY_10AM
    calls = [(f"a{i:02d}", "agent", at + timedelta(hours=i)) for i in range(10)]
    calls += [(f"b{i:02d}", "agent2", at + timedelta(hours=i)) for i in range(2)]
    calls += [("lost1", None, at)]  # abandoned: nobody to inspect
    calls += [("next1", "agent", at + timedelta(days=7))]  # the following week
    calls += [("prev1", "agent", at - timedelta(minutes=1))]  # Sunday 09:59: week 47
    await add_calls(api, tmp_path, calls)

    result = await _sample(api)
    assert (result.week, result.sampled, result.bad_rating) == ("2026-W48", 5, 0)
    first = await _reviews(api)
    agent_calls = sorted(c for c, a, _, _ in first if a == "agent")
    assert len(agent_calls) == 3 and all(c.startswith("a") for c in agent_calls)
    assert sorted(c for c, a, _, _ in first if a == "agent2") == ["b00", "b01"]
    assert {(w, r) for _, _, w, r in first} == {("2026-W48", "sampled")}

    # a rerun adds nothing; the same week sampled into an empty database picks the same
    again = await _sample(api)
    assert (again.sampled, again.bad_rating) == (0, 0) and await _reviews(api) == first

    # an order rated 不满意 this week: each of its calls is added, sampled or not
    not_sampled = sorted({c for c, _, _ in calls[:10]} - set(agent_calls))[:2]
    number = await bad_rating(api)
    for call_id in [*not_sampled, agent_calls[0]]:
        await link_call(api, call_id, number)
    result = await _sample(api)
    assert (result.sampled, result.bad_rating) == (0, 2)
    after = await _reviews(api)
    assert {c for c, _, _, r in after if r == "bad_rating"} == set(not_sampled)
    # the sampled call keeps its first reason
    assert (agent_calls[0], "agent", "2026-W48", "sampled") in after


async def test_the_same_sample_in_another_database(aiohttp_client, sqlite_url, clock, tmp_path):
    """Determinism across runs: two databases with the same calls sample the same ones."""
    picked = []
    for n in range(2):
        api = await make_api(aiohttp_client, sqlite_url.replace(".db", f"{n}.db"), clock)
        calls = [(f"c{i:02d}", "agent", MONDAY_10AM + timedelta(hours=i)) for i in range(12)]
        await add_calls(api, tmp_path / str(n), list(reversed(calls)) if n else calls)
        await _sample(api, per_agent=4)
        picked.append(await _reviews(api))
    assert picked[0] == picked[1] and len(picked[0]) == 4


async def test_cli_samples_a_week(aiohttp_client, sqlite_url, clock, tmp_path):
    api = await make_api(aiohttp_client, sqlite_url, clock)
    calls = [(f"c{i:02d}", "agent", MONDAY_10AM + timedelta(hours=i)) for i in range(5)]
    await add_calls(api, tmp_path, calls)
    db = sqlite_url.split("///", 1)[1]
    command = [sys.executable, "-m", "quality", "sample", "--db", db, "--per-agent", "2"]

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *command, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out.decode(), err.decode()

    code, out, _ = await run("--week", "2026-W48")
    assert code == 0 and "2026-W48: 随机抽检 2 条" in out
    code, out, _ = await run("--week", "2026-W48")
    assert code == 0 and "随机抽检 0 条" in out
    assert len(await _reviews(api)) == 2
    code, _, err = await run("--week", "2026-48")
    assert code == 2 and "周次格式不正确" in err


async def test_background_round_samples_last_week(aiohttp_client, sqlite_url, clock, tmp_path):
    from quality.services import sample_last_week

    api = await make_api(aiohttp_client, sqlite_url, clock)
    calls = [(f"c{i:02d}", "agent", MONDAY_10AM + timedelta(hours=i)) for i in range(5)]
    await add_calls(api, tmp_path, calls)
    sessions = api.client.app[SESSIONS]
    # during week 48 itself, last week (47) has no calls
    assert (await sample_last_week(sessions, 2, TZ, MONDAY_10AM)).week == "2026-W47"
    assert await _reviews(api) == []
    # the next Monday: week 48 sampled, and again an hour later without change
    monday = MONDAY_10AM + timedelta(days=7)
    first = await sample_last_week(sessions, 2, TZ, monday)
    assert (first.week, first.sampled) == ("2026-W48", 2)
    assert (await sample_last_week(sessions, 2, TZ, monday + timedelta(hours=1))).sampled == 0
    assert len(await _reviews(api)) == 2
