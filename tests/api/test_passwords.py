"""Accounts after the security probe (issue #16): the password policy, the change at
first login, and the per-account back-off and lockout."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from app.factory import create_app
from tests.conftest import INITIAL_PASSWORD, PASSWORD, make_settings

XFF = "X-Forwarded-For"


@pytest.mark.parametrize(
    ("username", "password"),
    [("u_new", "Password1234"), ("u_new", "P@ssw0rd2026!"), ("chenjing", "chenjing-2026-ab")],
)
async def test_admins_cannot_set_weak_passwords(api, username, password):
    body = {"username": username, "password": password, "role": "agent"}
    err = await api.call("POST", "/api/v1/users", "admin", body, expect=400)
    assert err["error"]["code"] == "weak_password"
    body["password"] = PASSWORD
    await api.call("POST", "/api/v1/users", "admin", body, expect=201)


async def test_an_admin_set_password_must_be_changed_first(api):
    body = {"username": "newagent", "password": INITIAL_PASSWORD, "role": "agent"}
    await api.call("POST", "/api/v1/users", "admin", body, expect=201)
    resp = await api.client.post(
        "/api/v1/auth/token", json={"username": "newagent", "password": INITIAL_PASSWORD}
    )
    answer = await resp.json()
    assert resp.status == 200 and answer["password_change_required"] is True
    api.tokens["newagent"] = answer["token"]
    for method, path in [("GET", "/api/v1/me"), ("GET", "/api/v1/orders")]:
        err = await api.call(method, path, "newagent", expect=403)
        assert err["error"]["code"] == "password_change_required"
    change = "/api/v1/auth/password"
    err = await api.call("POST", change, "newagent", {"old": "nope", "new": PASSWORD}, expect=400)
    assert err["error"]["code"] == "wrong_password"
    weak = {"old": INITIAL_PASSWORD, "new": "Password1234"}
    err = await api.call("POST", change, "newagent", weak, expect=400)
    assert err["error"]["code"] == "weak_password"
    same = {"old": INITIAL_PASSWORD, "new": INITIAL_PASSWORD}
    await api.call("POST", change, "newagent", same, expect=400)
    await api.call("POST", change, "newagent", {"old": INITIAL_PASSWORD, "new": PASSWORD})
    assert (await api.call("GET", "/api/v1/me", "newagent"))["username"] == "newagent"
    token = await api.call(
        "POST", "/api/v1/auth/token", json={"username": "newagent", "password": PASSWORD}
    )
    assert token["password_change_required"] is False


async def test_an_own_change_follows_the_policy_and_ends_other_sessions(api):
    other = await api.login("agent")
    api.tokens["agent2nd"] = other
    mine = await api.login("agent")
    change = {"old": PASSWORD, "new": "agent-Kettle-Morning"}
    err = await api.call("POST", "/api/v1/auth/password", "agent", change, expect=400)
    assert err["error"]["code"] == "weak_password"  # contains the username
    change["new"] = "Kettle-Morning-Rain"
    await api.call("POST", "/api/v1/auth/password", "agent", change)
    assert api.tokens["agent"] == mine
    await api.call("GET", "/api/v1/me", "agent")
    resp = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 401


async def _login(client, username: str, password: str, **headers) -> int:
    resp = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}, headers=headers
    )
    return resp.status


async def test_failed_logins_back_off_then_lock_the_account(api, clock):
    client = api.client
    for _ in range(3):
        assert await _login(client, "agent", "wrong-guess") == 401
    # back-off: the next try within 1 s is refused, even with the right password
    assert await _login(client, "agent", PASSWORD) == 429
    clock.advance(seconds=1)
    assert await _login(client, "agent", PASSWORD) == 200  # and the count is cleared
    for _ in range(9):
        assert await _login(client, "agent", "wrong-guess") == 401
        clock.advance(seconds=300)  # waits out each back-off
    assert await _login(client, "agent", "wrong-guess") == 401  # the 10th: locked
    clock.advance(seconds=600)
    resp = await client.post("/api/v1/auth/token", json={"username": "agent", "password": PASSWORD})
    assert resp.status == 429 and "锁定" in (await resp.json())["error"]["message"]
    assert await _login(client, "dispatcher", PASSWORD) == 200  # other accounts are fine
    clock.advance(minutes=15)
    assert await _login(client, "agent", PASSWORD) == 200


async def test_the_lockout_is_shared_by_every_node(api, aiohttp_client, sqlite_url, clock):
    other_node = await aiohttp_client(
        create_app(make_settings(sqlite_url), now=clock, scanner=False)
    )
    for _ in range(3):
        assert await _login(api.client, "agent", "wrong-guess") == 401
    assert await _login(other_node, "agent", PASSWORD) == 429


async def test_one_nat_address_does_not_lock_everyone_out(api):
    # Many users behind one address mistype: the others still log in.
    for i in range(30):
        assert await _login(api.client, f"someone{i}", "wrong-guess") == 401
    assert await _login(api.client, "agent", PASSWORD) == 200


async def test_forwarded_for_counts_only_from_a_trusted_proxy(aiohttp_client, sqlite_url, clock):
    settings = make_settings(sqlite_url)
    settings.auth.login_failures_per_address = 3
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    for i in range(3):
        assert await _login(client, f"u{i}", "wrong-guess", **{XFF: "10.0.0.1"}) == 401
    # not a trusted proxy: the header is ignored, all came from 127.0.0.1
    assert await _login(client, "u9", "wrong-guess", **{XFF: "10.0.0.2"}) == 429

    settings = make_settings(sqlite_url)
    settings.auth.login_failures_per_address = 3
    settings.server.trusted_proxies = [ip_network("127.0.0.0/8")]
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    for i in range(3):
        assert await _login(client, f"u{i}", "wrong-guess", **{XFF: "10.0.0.1"}) == 401
    assert await _login(client, "u9", "wrong-guess", **{XFF: "10.0.0.1"}) == 429
    assert await _login(client, "u9", "wrong-guess", **{XFF: "10.0.0.2"}) == 401
    # what the client wrote before the proxy's entry is not believed
    assert await _login(client, "u8", "wrong-guess", **{XFF: "10.0.0.2, 10.0.0.1"}) == 429


async def test_a_wrong_old_password_counts_as_a_failed_login(api):
    change = {"old": "wrong-guess", "new": "Kettle-Morning-Rain"}
    for _ in range(3):
        await api.call("POST", "/api/v1/auth/password", "agent", change, expect=400)
    change["old"] = PASSWORD
    await api.call("POST", "/api/v1/auth/password", "agent", change, expect=429)
