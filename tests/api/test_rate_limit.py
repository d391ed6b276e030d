"""The API-wide rate limit (issue 16): every request per user, per address when nobody is
signed in, counted by all nodes (app/ratelimit.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.factory import create_app
from app.keys import REQUEST_LIMITER, SESSIONS, SETTINGS
from app.ratelimit import AddressCount
from tests.api.conftest import Api, seed
from tests.conftest import FakeClock, make_settings


async def limited_api(aiohttp_client, url: str, clock: FakeClock, **limits) -> Api:
    settings = make_settings(url)
    for name, value in limits.items():
        setattr(settings.auth, name, value)
    return Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))


async def stored(api: Api, subject: str) -> int:
    """The subject's requests in the shared buckets."""
    async with api.client.app[SESSIONS]() as session:
        total = await session.scalar(
            select(func.sum(AddressCount.count)).where(
                AddressCount.scope == "api", AddressCount.address == subject
            )
        )
    return int(total or 0)


async def test_a_user_over_the_limit_gets_429_with_retry_after_others_do_not(
    aiohttp_client, sqlite_url, clock
):
    api = await limited_api(aiohttp_client, sqlite_url, clock)
    await seed(api)
    limiter = api.client.app[REQUEST_LIMITER]
    await limiter.sync(api.client.app[SESSIONS])  # the seeding's requests are stored
    used = await stored(api, "user:agent")  # the agent's first password change
    assert used >= 1
    api.client.app[SETTINGS].auth.user_requests_per_window = 5
    for _ in range(5 - used):
        await api.call("GET", "/api/v1/orders", "agent")
    resp = await api.client.get(
        "/api/v1/orders", headers={"Authorization": f"Bearer {api.tokens['agent']}"}
    )
    body = await resp.json()
    assert resp.status == 429 and body["error"]["code"] == "rate_limited"
    assert "每 60 秒最多 5 次" in body["error"]["message"]
    assert resp.headers["Retry-After"] == "6"  # a tenth of the window: the next bucket
    await api.call("GET", "/api/v1/orders", "supervisor")  # another user: own count
    await api.call("GET", "/healthz")  # health checks are never throttled

    # Stored, the count holds on; once the window has slid past, the user may go on.
    await limiter.sync(api.client.app[SESSIONS])
    await api.call("GET", "/api/v1/orders", "agent", expect=429)
    clock.advance(seconds=61)
    await limiter.sync(api.client.app[SESSIONS])
    await api.call("GET", "/api/v1/orders", "agent")


async def test_public_routes_and_wrong_tokens_count_per_address(aiohttp_client, sqlite_url, clock):
    api = await limited_api(aiohttp_client, sqlite_url, clock, address_requests_per_window=4)
    await api.call("GET", "/api/v1/openapi.json")
    await api.call("GET", "/api/v1/openapi.json")
    for _ in range(2):  # guessing tokens counts against the address too
        await api.call(
            "GET", "/api/v1/orders", headers={"Authorization": "Bearer guess"}, expect=401
        )
    error = await api.call("GET", "/api/v1/openapi.json", expect=429)
    assert error["error"]["code"] == "rate_limited"
    await api.call("GET", "/api/v1/orders", headers={"Authorization": "Bearer x"}, expect=429)
    for _ in range(3):
        await api.call("GET", "/healthz")


async def test_counts_are_stored_once_a_second_and_kept_when_storing_fails(
    aiohttp_client, sqlite_url, clock
):
    api = await limited_api(aiohttp_client, sqlite_url, clock)
    await seed(api)
    limiter, sessions = api.client.app[REQUEST_LIMITER], api.client.app[SESSIONS]
    await limiter.sync(sessions)
    for _ in range(3):
        await api.call("GET", "/api/v1/orders", "agent")

    before = await stored(api, "user:agent")

    class Broken:
        def __call__(self):
            raise OSError("database gone")

    with pytest.raises(OSError):
        await limiter.sync(Broken())
    assert await stored(api, "user:agent") == before  # nothing stored, nothing forgotten
    used = limiter.used("user:agent")
    await limiter.sync(sessions)
    assert await stored(api, "user:agent") == before + 3
    assert limiter.used("user:agent") == used  # stored, no longer this node's own

    # Stored, then the read back fails: counted once, neither twice nor not at all.
    await api.call("GET", "/api/v1/orders", "agent")

    class ReadFails:
        calls = 0

        def __call__(self):
            self.calls += 1
            if self.calls > 1:
                raise OSError("database gone")
            return sessions()

    with pytest.raises(OSError):
        await limiter.sync(ReadFails())
    assert limiter.used("user:agent") == used + 1
    await limiter.sync(sessions)
    assert limiter.used("user:agent") == used + 1 == await stored(api, "user:agent")
