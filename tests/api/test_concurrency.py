"""Two people acting on the same order at once: one wins, the other gets a clear 409."""

from __future__ import annotations

import asyncio
import re

import pytest

from app.factory import create_app
from dispatch.services import NUMBER_BLOCK
from tests.api.conftest import Api, make_api
from tests.conftest import make_settings
from tests.postgres import create_database


async def test_concurrent_accepts(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    numbers = []
    for _ in range(5):
        number = (await api.register())["number"]
        await api.act("dispatcher", number, "dispatch", unit="ZJJ-WY")
        numbers.append(number)
    await api.login("zjj")
    await api.login("zjj_wy")

    async def accept(user, number):
        resp = await api.client.post(
            f"/api/v1/orders/{number}/actions/accept",
            json={},
            headers={"Authorization": f"Bearer {api.tokens[user]}"},
        )
        return resp.status, await resp.json()

    codes = []
    for number in numbers:
        results = await asyncio.gather(accept("zjj", number), accept("zjj_wy", number))
        assert sorted(status for status, _ in results) == [200, 409], results
        loser = next(body for status, body in results if status == 409)
        # raced inside the transaction (concurrent_update) or lost before it began
        assert loser["error"]["code"] in ("concurrent_update", "illegal_transition")
        codes.append(loser["error"]["code"])
        order = await api.order(number)
        assert order["state"] == "accepted"
        assert [e["action"] for e in order["events"]].count("accept") == 1


async def test_concurrent_registrations_get_distinct_numbers(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    await api.login("agent")
    await api.login("dispatcher")
    headers = {"Authorization": f"Bearer {api.tokens['agent']}"}
    body = {"channel": "phone", "hotline": "12345", "content": "路灯不亮", "type": "complaint"}

    async def register():
        resp = await api.client.post("/api/v1/orders", json=body, headers=headers)
        return resp.status, await resp.json()

    results = await asyncio.gather(*(register() for _ in range(20)))
    assert [status for status, _ in results] == [201] * 20, results
    numbers = {order["number"] for _, order in results}
    assert len(numbers) == 20
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 20


@pytest.mark.postgres
async def test_nodes_take_numbers_in_blocks(aiohttp_client, postgres_server, clock):
    """PostgreSQL: each node takes a block of the day's numbers at once (no registration
    waits on another for the counter row); numbers stay unique across nodes and
    restarts, of the day, in the DESIGN format."""
    url = await create_database(postgres_server)
    first = await make_api(aiohttp_client, url, clock)
    second = Api(await aiohttp_client(create_app(make_settings(url), now=clock, scanner=False)))

    async def register(api: Api) -> str:
        return (await api.register())["number"]

    numbers = await asyncio.gather(*(register(api) for _ in range(15) for api in (first, second)))
    assert len(set(numbers)) == 30
    assert all(re.fullmatch(r"20261123\d{6}", n) for n in numbers), numbers
    # each node hands out its own block: 1.. on the first, NUMBER_BLOCK+1.. on the second
    assert min(numbers) == "20261123000001"
    assert sorted(numbers)[15] == f"20261123{NUMBER_BLOCK + 1:06d}"
    # a restarted node never reuses a number: it takes the block after the last one
    third = Api(await aiohttp_client(create_app(make_settings(url), now=clock, scanner=False)))
    assert await register(third) == f"20261123{2 * NUMBER_BLOCK + 1:06d}"
    # a new day starts at 1 again
    clock.advance(days=1)
    assert await register(first) == "20261124000001"
    total = (await first.call("GET", "/api/v1/orders?page_size=1", "supervisor"))["total"]
    assert total == 32
