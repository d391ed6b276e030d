"""Two people acting on the same order at once: one wins, the other gets a clear 409."""

from __future__ import annotations

import asyncio

from tests.api.conftest import make_api


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
