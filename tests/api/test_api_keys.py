"""Partner API keys (DESIGN §9): X-API-Key acts as an API user of the key's unit."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from accounts.storage import ApiKey
from app.factory import create_app
from app.keys import SESSIONS
from tests.api.conftest import Api, seed
from tests.conftest import make_settings


async def _key(api: Api, name: str = "物业系统", unit: str | None = "ZJJ") -> dict:
    body = {"name": name, **({"unit": unit} if unit else {})}
    return await api.call("POST", "/api/v1/api-keys", "admin", body, expect=201)


def _as(key: str) -> dict:
    return {"headers": {"X-API-Key": key}}


async def _dispatched(api: Api, unit: str) -> str:
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    return number


async def test_a_unit_key_acts_for_its_unit_only(api):
    created = await _key(api)
    key = created["api_key"]
    assert key.startswith("hk_") and created["unit"] == "ZJJ" and created["scope"] == "unit"
    me = await api.call("GET", "/api/v1/me", **_as(key))
    assert (me["role"], me["unit"], me["api_key"]) == ("unit", "ZJJ", True)
    own, other = await _dispatched(api, "ZJJ-WY"), await _dispatched(api, "CGJ")
    listed = await api.call("GET", "/api/v1/orders", **_as(key))
    assert [o["number"] for o in listed["items"]] == [own]  # its unit and sub-units only
    order = await api.call("GET", f"/api/v1/orders/{own}", **_as(key))
    assert order["caller_phone"] == "138****8000"
    # another unit's order: not found, and nothing changes
    error = await api.call("GET", f"/api/v1/orders/{other}", expect=404, **_as(key))
    assert error["error"]["code"] == "order_not_found"
    path = f"/api/v1/orders/{other}/actions/accept"
    await api.call("POST", path, json={}, expect=404, **_as(key))
    assert (await api.order(other))["state"] == "dispatched"
    # the unit's own actions work, as the unit's user would do them
    path = f"/api/v1/orders/{own}/actions/accept"
    accepted = await api.call("POST", path, json={}, **_as(key))
    assert accepted["state"] == "accepted"
    assert (
        accepted["events"][-1]["by"].startswith("key:") and accepted["events"][-1]["unit"] == "ZJJ"
    )
    # a centre action: the role refuses it; an admin route: keys are refused
    path = f"/api/v1/orders/{own}/actions/redispatch"
    await api.call("POST", path, json={"unit": "ZJJ"}, expect=403, **_as(key))
    error = await api.call("GET", "/api/v1/users", expect=403, **_as(key))
    assert error["error"]["code"] == "api_key_forbidden"


async def test_keys_are_listed_without_secret_stored_hashed_and_revoked(api):
    created = await _key(api)
    key = created["api_key"]
    [item] = (await api.call("GET", "/api/v1/api-keys", "admin"))["items"]
    assert "api_key" not in item and key not in str(item)
    assert (item["id"], item["unit"], item["active"]) == (created["id"], "ZJJ", True)
    async with api.client.app[SESSIONS]() as session:
        [row] = await session.scalars(select(ApiKey))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in row.key_hash
    await api.call("GET", "/api/v1/api-keys", "dispatcher", expect=403)
    revoked = await api.call("DELETE", f"/api/v1/api-keys/{created['id']}", "admin")
    assert revoked["active"] is False and revoked["revoked_at"]
    error = await api.call("GET", "/api/v1/orders", expect=401, **_as(key))
    assert error["error"]["code"] == "invalid_api_key"
    await api.call("DELETE", "/api/v1/api-keys/9999", "admin", expect=404)
    await api.call("DELETE", "/api/v1/api-keys/x", "admin", expect=404)


async def test_bad_keys_and_unit_less_keys(api):
    for bad in ("hk_nothing", "x" * 500, "🔑"):
        error = await api.call("GET", "/api/v1/orders", expect=401, **_as(bad))
        assert error["error"]["code"] == "invalid_api_key", bad
    open311 = (await _key(api, "Open311 客户端", unit=None))["api_key"]
    error = await api.call("GET", "/api/v1/orders", expect=403, **_as(open311))
    assert error["error"]["code"] == "api_key_forbidden" and "Open311" in error["error"]["message"]
    for body in ({"name": "x", "unit": "NOPE"}, {"name": ""}, {"name": "x", "extra": 1}):
        await api.call("POST", "/api/v1/api-keys", "admin", body, expect=400)


async def test_each_key_is_rate_limited_in_the_shared_database(aiohttp_client, sqlite_url, clock):
    settings = make_settings(sqlite_url)
    settings.auth.api_key_requests_per_window, settings.auth.api_key_window_seconds = 3, 60
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    key, other = (await _key(api))["api_key"], (await _key(api, "另一个"))["api_key"]
    for _ in range(3):
        await api.call("GET", "/api/v1/orders", **_as(key))
    error = await api.call("GET", "/api/v1/orders", expect=429, **_as(key))
    assert error["error"]["code"] == "rate_limited"
    await api.call("GET", "/api/v1/orders", **_as(other))  # per key
    clock.advance(seconds=60)  # the next window
    await api.call("GET", "/api/v1/orders", **_as(key))
    async with api.client.app[SESSIONS]() as session:
        counts = {r.name: r.window_count for r in await session.scalars(select(ApiKey))}
    assert counts == {"物业系统": 1, "另一个": 1}
