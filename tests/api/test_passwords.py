"""Accounts after the security probe (issue #16): the password policy, the change at
first login, and the per-account back-off and lockout."""

from __future__ import annotations

import pytest

from tests.conftest import INITIAL_PASSWORD, PASSWORD


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
