"""Bad input gets the documented error, the order is unchanged, the log shows nothing."""

from __future__ import annotations

import io

import pytest


async def _events(api, number):
    return [e["action"] for e in (await api.order(number))["events"]]


async def test_unknown_hotline(api):
    err = await api.call(
        "POST",
        "/api/v1/orders",
        "agent",
        {"channel": "phone", "hotline": "99999", "content": "测试"},
        expect=400,
    )
    assert err["error"]["code"] == "unknown_hotline"
    page = await api.call("GET", "/api/v1/orders", "supervisor")
    assert page["total"] == 0


async def test_unknown_unit_leaves_order_unchanged(api):
    number = (await api.register())["number"]
    err = await api.act("dispatcher", number, "dispatch", unit="NOPE", expect=400)
    assert err["error"]["code"] == "unknown_unit"
    assert (await api.order(number))["state"] == "registered"
    assert await _events(api, number) == ["register"]


async def test_illegal_transition_is_409(api):
    number = (await api.register())["number"]
    err = await api.act("supervisor", number, "review", approve=True, expect=409)
    assert err["error"]["code"] == "illegal_transition"
    assert "已登记" in err["error"]["message"]
    assert await _events(api, number) == ["register"]


async def test_wrong_role_is_403(api):
    number = (await api.register())["number"]
    err = await api.act("agent", number, "dispatch", unit="ZJJ", expect=403)
    assert err["error"]["code"] == "forbidden"
    await api.call("POST", "/api/v1/units", "agent", {"code": "X", "name": "X"}, expect=403)


async def test_return_without_reason(api):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    err = await api.act("zjj", number, "return", expect=400)
    assert err["error"]["code"] == "validation_error" and "reason" in err["error"]["message"]
    err = await api.act("zjj", number, "return", reason="   ", expect=400)
    assert err["error"]["code"] == "validation_error"
    assert await _events(api, number) == ["register", "dispatch"]


async def test_extension_beyond_the_limit(api):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    err = await api.act("zjj", number, "extend_request", days=30, reason="很复杂", expect=400)
    assert err["error"]["code"] == "extension_too_long"
    assert await _events(api, number) == ["register", "dispatch"]


async def test_malformed_json(api):
    await api.login("agent")
    resp = await api.client.post(
        "/api/v1/orders",
        data=b"{not json",
        headers={
            "Authorization": f"Bearer {api.tokens['agent']}",
            "Content-Type": "application/json",
        },
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "fax", "hotline": "12345", "content": "x"},
        {"channel": "phone", "hotline": "12345"},
        {"channel": "phone", "hotline": "12345", "content": "x", "caller_phone": "abc"},
        {"channel": "phone", "hotline": "12345", "content": "x", "surprise": 1},
        ["not", "an", "object"],
    ],
)
async def test_invalid_order_bodies(api, body):
    err = await api.call("POST", "/api/v1/orders", "agent", body, expect=400)
    assert err["error"]["code"] == "validation_error"


async def test_oversized_body_is_413(api):
    await api.login("agent")
    resp = await api.client.post(
        "/api/v1/orders",
        data=io.BytesIO(b"x" * 2_000_000),
        headers={
            "Authorization": f"Bearer {api.tokens['agent']}",
            "Content-Type": "application/json",
        },
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"


async def test_unauthenticated_and_bad_token(api):
    resp = await api.client.get("/api/v1/orders")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"
    resp = await api.client.get("/api/v1/orders", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401


async def test_bad_password_and_throttle(api):
    # Per account (tests/api/test_passwords.py has the details): three failures, then
    # the next try must wait.
    for _ in range(3):
        resp = await api.client.post(
            "/api/v1/auth/token", json={"username": "agent", "password": "wrong"}
        )
        assert resp.status == 401
    resp = await api.client.post(
        "/api/v1/auth/token", json={"username": "agent", "password": "wrong"}
    )
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_unknown_route_and_action(api):
    resp = await api.client.get("/api/v1/nothing-here")
    assert resp.status == 404 and "error" in await resp.json()
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "teleport", expect=404)


async def test_bad_page_size(api):
    err = await api.call("GET", "/api/v1/orders?page_size=501", "supervisor", expect=400)
    assert err["error"]["code"] == "validation_error"


async def test_revoked_token(api):
    await api.call("POST", "/api/v1/auth/revoke", "agent")
    await api.call("GET", "/api/v1/me", "agent", expect=401)


async def test_nul_characters_are_refused(api):
    err = await api.call(
        "POST",
        "/api/v1/orders",
        "agent",
        {"channel": "phone", "hotline": "12345", "content": "漏水\x00"},
        expect=400,
    )
    assert err["error"]["code"] == "invalid_character"
