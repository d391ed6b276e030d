"""An HTTP client on the real app (real database, real middleware) and a small org."""

from __future__ import annotations

from typing import Any

import pytest

from app.factory import create_app
from tests.conftest import ADMIN_PASSWORD, INITIAL_PASSWORD, PASSWORD, FakeClock, make_settings

# (code, name, parent)
UNITS = [
    ("ZJJ", "市住建局", None),
    ("ZJJ-WY", "市住建局物业科", "ZJJ"),
    ("CGJ", "市城管局", None),
    ("DHQ", "东湖区政府", None),
    ("DHQ-DH", "东湖街道", "DHQ"),
]
# (username, role, unit, hotlines)
USERS = [
    ("agent", "agent", None, None),
    ("dispatcher", "dispatcher", None, None),
    ("supervisor", "supervisor", None, None),
    ("inspector", "inspector", None, None),
    ("zjj", "unit", "ZJJ", None),
    ("zjj_wy", "unit", "ZJJ-WY", None),
    ("cgj", "unit", "CGJ", None),
    ("dhq", "unit", "DHQ", None),
    ("dhq_dh", "unit", "DHQ-DH", None),
    ("aq_dispatcher", "dispatcher", None, ["12350"]),
]


class Api:
    """Logs users in once and makes JSON calls, checking the status code."""

    def __init__(self, client) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}

    async def login(self, username: str, password: str = PASSWORD) -> str:
        resp = await self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        assert resp.status == 200, await resp.text()
        self.tokens[username] = (await resp.json())["token"]
        return self.tokens[username]

    async def login_once(self, username: str) -> str:
        """The user's token, logging in the first time."""
        if username not in self.tokens:
            await self.login(username, ADMIN_PASSWORD if username == "admin" else PASSWORD)
        return self.tokens[username]

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        json: Any = None,
        expect: int = 200,
        **kwargs,
    ) -> Any:
        headers = kwargs.pop("headers", {})
        if user is not None:
            if user not in self.tokens:
                await self.login(user, ADMIN_PASSWORD if user == "admin" else PASSWORD)
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        resp = await self.client.request(method, path, json=json, headers=headers, **kwargs)
        body = await resp.json()
        assert resp.status == expect, f"{method} {path}: {resp.status} {body}"
        return body

    async def register(self, user: str = "agent", **fields) -> dict:
        body = {
            "channel": "phone",
            "hotline": "12345",
            "content": "小区物业不作为,楼道垃圾无人清理",
            "caller_phone": "13800138000",
            "caller_name": "王先生",
            "type": "complaint",
            **fields,
        }
        return await self.call("POST", "/api/v1/orders", user, body, expect=201)

    async def act(self, user: str, number: str, action: str, expect: int = 200, **body) -> dict:
        return await self.call(
            "POST", f"/api/v1/orders/{number}/actions/{action}", user, body, expect=expect
        )

    async def order(self, number: str, user: str = "supervisor", expect: int = 200) -> dict:
        return await self.call("GET", f"/api/v1/orders/{number}", user, expect=expect)


async def add_user(api: Api, by: str = "admin", password: str = PASSWORD, **body) -> dict:
    """What an admin and the new user do: the admin sets an initial password, the user
    changes it at the first login (to `password`); the user is then logged in."""
    user = await api.call(
        "POST", "/api/v1/users", by, {**body, "password": INITIAL_PASSWORD}, expect=201
    )
    await api.login(body["username"], INITIAL_PASSWORD)
    await api.call(
        "POST",
        "/api/v1/auth/password",
        body["username"],
        {"old": INITIAL_PASSWORD, "new": password},
    )
    return user


async def seed(api: Api) -> None:
    for code, name, parent in UNITS:
        await api.call(
            "POST",
            "/api/v1/units",
            "admin",
            {"code": code, "name": name, "parent": parent},
            expect=201,
        )
    for username, role, unit, hotlines in USERS:
        await add_user(api, username=username, role=role, unit=unit, hotlines=hotlines)


async def make_api(aiohttp_client, db_url: str, clock: FakeClock) -> Api:
    app = create_app(make_settings(db_url), now=clock, scanner=False)
    api = Api(await aiohttp_client(app))
    await seed(api)
    return api


@pytest.fixture
async def api(aiohttp_client, sqlite_url: str, clock: FakeClock) -> Api:
    return await make_api(aiohttp_client, sqlite_url, clock)
