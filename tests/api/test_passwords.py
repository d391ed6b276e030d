"""Accounts after the security probe (issue #16): the password policy, the change at
first login, and the per-account back-off and lockout."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


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
