"""Every declared route, fed malformed input by several roles: never a 500, always JSON."""

from __future__ import annotations

import re

from app.keys import ROUTES
from tests.api.conftest import make_api
from tests.conftest import ADMIN_PASSWORD, PASSWORD

BODIES = [
    None,
    {},
    [],
    "text",
    12,
    {"unexpected": True},
    {"unit": None, "reason": 5, "days": "many", "approve": "yes", "due": "tomorrow"},
    {"unit": "ZJJ", "days": 1e308, "text": "x" * 6000, "satisfaction": "great"},
    {"channel": "phone", "hotline": "12345", "content": "\x00\ud7ff", "latitude": 500},
    {"channel": "phone", "hotline": "12345", "content": "NUL\x00", "text": "\x00"},
]


async def test_no_route_answers_500(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    number = (await api.register())["number"]
    paths = []
    for route in api.client.app[ROUTES]:
        for value in (number, "nope", "2026-11-30", "1"):
            path = re.sub(r"{\w+}", value, route.path)
            paths.append((route.method, path))
    for user in ("admin", "zjj", "dispatcher"):
        await api.login(user, ADMIN_PASSWORD if user == "admin" else PASSWORD)
        headers = {"Authorization": f"Bearer {api.tokens[user]}"}
        for method, path in sorted(set(paths)):
            if path.endswith("/auth/revoke"):
                continue
            for body in BODIES if method != "GET" else [None]:
                resp = await api.client.request(
                    method, path + "?page=-1&from=x", json=body, headers=headers
                )
                assert resp.status < 500, (user, method, path, body, await resp.text())
                data = await resp.json()
                if resp.status >= 400:
                    assert set(data["error"]) == {"code", "message"}
