"""Every declared route × every role: a request with a valid token is answered, refused
or not found — never a 500 — and a role the route does not name gets 403."""

from __future__ import annotations

import re

from app.keys import ROUTES
from tests.api.conftest import Api

# One user per role (tests/api/conftest.py's organisation).
ROLE_USERS = {
    "agent": "agent",
    "dispatcher": "dispatcher",
    "unit": "zjj",
    "supervisor": "supervisor",
    "inspector": "inspector",
    "admin": "admin",
}
ANSWERS = {200, 201, 400, 401, 403, 404, 409}
# Ends the caller's own token: checked by the auth tests, not here.
SKIPPED = {("POST", "/api/v1/auth/revoke")}


async def test_every_route_and_role(api: Api):
    number = (await api.register())["number"]
    values = {"number": number, "day": "2026-12-05", "name": "answer"}
    checked = 0
    for route in api.client.app[ROUTES]:
        if route.public or (route.method, route.path) in SKIPPED:
            continue
        path = re.sub(r"{(\w+)(:[^}]*)?}", lambda m: values.get(m.group(1), "1"), route.path)
        for role, user in ROLE_USERS.items():
            body = None if route.method in ("GET", "DELETE") else {}
            headers = {"Authorization": f"Bearer {await api.login_once(user)}"}
            resp = await api.client.request(route.method, path, json=body, headers=headers)
            where = (role, route.method, route.path, resp.status)
            assert resp.status in ANSWERS, (where, await resp.text())
            if route.roles is not None and role not in route.roles:
                assert resp.status == 403, where
            if resp.status >= 400:
                assert set((await resp.json())["error"]) == {"code", "message"}, where
            checked += 1
    assert checked >= 6 * 60, checked  # the whole API, not a corner of it
    print(f"routes x roles checked: {checked}")
