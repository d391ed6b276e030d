"""Demo data goes through the real use cases and is loaded only into an empty database."""

from __future__ import annotations

from app.demo import DEMO_PASSWORD, PLACES, load_demo
from app.factory import create_app
from tests.conftest import make_settings


async def test_demo_data(aiohttp_client, sqlite_url):
    client = await aiohttp_client(create_app(make_settings(sqlite_url), scanner=False))
    assert await load_demo(client.app, days=6, per_day=8)
    assert not await load_demo(client.app)  # never twice, never over existing orders

    resp = await client.post(
        "/api/v1/auth/token", json={"username": "supervisor1", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    resp = await client.get("/api/v1/orders?page_size=500", headers=headers)
    orders = (await resp.json())["items"]
    assert len(orders) == 48
    states = {o["state"] for o in orders}
    assert {"closed", "accepted"} <= states and len(states) >= 4
    assert {o["hotline"] for o in orders} >= {"12345", "12319"}
    # the grid and the reports with a position (maps, 位置 → 地址)
    resp = await client.get("/api/v1/geo/map", headers=headers)
    features = (await resp.json())["features"]
    kinds = [f["properties"]["kind"] for f in features]
    assert kinds.count("cell") == 16 and kinds.count("address") >= 1
    point = next(f for f in features if f["properties"]["kind"] == "address")
    lng, lat = point["geometry"]["coordinates"]
    assert PLACES[point["properties"]["label"]] == (lat, lng)
    resp = await client.get(f"/api/v1/geo/reverse?lat={lat}&lng={lng}", headers=headers)
    assert (await resp.json())["address"] == point["properties"]["label"]

    resp = await client.post(
        "/api/v1/auth/token", json={"username": "dhq_dh", "password": DEMO_PASSWORD}
    )
    unit = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    resp = await client.get("/api/v1/orders?page_size=500", headers=unit)
    for order in (await resp.json())["items"]:
        assert "DHQ-DH" in {order["lead_unit"], order["assignee"], *order["co_units"]}
        assert order["caller_phone"] is None or "****" in order["caller_phone"]
