"""Admin endpoints, first start, hotlines, catalogue, calendar and the OpenAPI document."""

from __future__ import annotations

from app.factory import create_app
from tests.conftest import PASSWORD, make_settings


async def test_hotlines_come_from_config(api):
    hotlines = await api.call("GET", "/api/v1/hotlines", "agent")
    modes = {h["number"]: h["mode"] for h in hotlines["items"]}
    assert modes == {
        "12345": "central",
        "12319": "central",
        "12358": "external",
        "12350": "subplatform",
    }


async def test_units_and_users(api):
    units = await api.call("GET", "/api/v1/units", "agent")
    wy = next(u for u in units["items"] if u["code"] == "ZJJ-WY")
    assert wy["parent"] == "ZJJ" and wy["level"] == 2
    err = await api.call(
        "POST", "/api/v1/units", "admin", {"code": "ZJJ", "name": "重复"}, expect=409
    )
    assert err["error"]["code"] == "unit_exists"
    err = await api.call(
        "POST", "/api/v1/units", "admin", {"code": "X1", "name": "X", "parent": "NOPE"}, expect=400
    )
    assert err["error"]["code"] == "unknown_unit"
    err = await api.call(
        "POST",
        "/api/v1/users",
        "admin",
        {"username": "u1", "password": PASSWORD, "role": "unit"},
        expect=400,
    )
    assert err["error"]["code"] == "unit_required"
    err = await api.call(
        "POST",
        "/api/v1/users",
        "admin",
        {"username": "agent", "password": PASSWORD, "role": "agent"},
        expect=409,
    )
    assert err["error"]["code"] == "username_taken"
    err = await api.call(
        "POST",
        "/api/v1/users",
        "admin",
        {"username": "u2", "password": "short", "role": "agent"},
        expect=400,
    )
    assert err["error"]["code"] == "weak_password"
    me = await api.call("GET", "/api/v1/me", "zjj_wy")
    assert me["role"] == "unit" and me["unit"] == "ZJJ-WY"
    token = await api.call(
        "POST", "/api/v1/auth/token", None, {"username": "zjj", "password": PASSWORD}
    )
    assert token["role"] == "unit" and token["unit"] == "ZJJ" and token["token"]


async def test_api_key(api):
    key = await api.call("POST", "/api/v1/api-keys", "admin", {"name": "open311"}, expect=201)
    assert key["api_key"].startswith("hk_")


async def test_catalogue(api):
    await api.call(
        "POST", "/api/v1/categories", "admin", {"code": "CG", "name": "城市管理"}, expect=201
    )
    await api.call(
        "POST",
        "/api/v1/categories",
        "admin",
        {"code": "CG.SR", "name": "市容环境", "parent": "CG", "default_unit": "CGJ"},
        expect=201,
    )
    cats = await api.call("GET", "/api/v1/categories", "dispatcher")
    assert [(c["code"], c["level"], c["default_unit"]) for c in cats["items"]] == [
        ("CG", 1, None),
        ("CG.SR", 2, "CGJ"),
    ]
    number = (await api.register(category="CG.SR"))["number"]
    assert (await api.order(number))["category"] == "CG.SR"
    err = await api.call(
        "POST",
        "/api/v1/orders",
        "agent",
        {"channel": "web", "hotline": "12345", "content": "x", "category": "NOPE"},
        expect=400,
    )
    assert err["error"]["code"] == "unknown_category"


async def test_calendar_override_changes_deadlines(api, clock):
    cal = await api.call("GET", "/api/v1/calendar?from=2026-11-23&to=2026-11-29", "agent")
    assert [d["working"] for d in cal["items"]] == [True] * 5 + [False] * 2
    await api.call(
        "PUT", "/api/v1/calendar/2026-11-24", "admin", {"working": False, "note": "临时停工"}
    )
    cal = await api.call("GET", "/api/v1/calendar?from=2026-11-24&to=2026-11-24", "agent")
    assert cal["items"][0] == {
        "date": "2026-11-24",
        "working": False,
        "verified": True,
        "override": False,
    }
    number = (await api.register(type="consultation"))["number"]
    order = await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    # 14 working hours from Monday 10:00, Tuesday off: Wednesday 10:00 + ... -> Thursday
    assert order["finish_due"] == "2026-11-26T10:00:00+08:00"
    await api.call("PUT", "/api/v1/calendar/2026-11-24", "agent", {"working": True}, expect=403)
    await api.call("PUT", "/api/v1/calendar/24-11-2026", "admin", {"working": True}, expect=400)


async def test_openapi_and_health(api):
    doc = await api.call("GET", "/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/orders/{number}/actions/dispatch" in doc["paths"]
    assert "CreateOrder" in doc["components"]["schemas"]
    health = await api.call("GET", "/healthz")
    assert health["status"] == "ok"
    # the open orders held by the duplicate index ("building" while it is built at start)
    assert health["parts"].pop("duplicate_index") in (0, "building")
    assert health["parts"] == {
        "database": "up",
        "sip": "off",
        "category_model": "none",
        "knowledge_base": 0,
        "bus": "up",
        "leader": True,  # one node on SQLite: the leader (no background jobs in tests)
        "background": {},
    }


async def test_no_admin_without_password(aiohttp_client, sqlite_url):
    settings = make_settings(sqlite_url)
    settings.auth.admin_password = ""
    client = await aiohttp_client(create_app(settings, scanner=False))
    resp = await client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": "anything"}
    )
    assert resp.status == 401
