"""GET /api/v1/calls and /api/v1/callbacks on the real app (real database, middleware)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from accounts.domain import Actor, Role
from app.db import unit_of_work
from app.factory import create_app
from app.keys import SESSIONS
from callcenter import domain, routes, storage
from tests.api.conftest import Api, seed
from tests.conftest import make_settings

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEYS = {"id", "hotline", "caller", "offered_at", "answered_at", "ended_at", "agent", "outcome"}


def record(n: int, hotline: str, at: datetime, agent: str | None = None, queued: bool = False):
    rec = domain.answer(domain.offer(f"{n:032d}", hotline, f"1380013{n:04d}", at), at)
    if agent is not None:
        rec = replace(rec, agent=agent)
    if queued:
        rec = domain.enqueue(rec, "general", at + timedelta(seconds=5))
    return domain.end(rec, at + timedelta(seconds=65))


CALLS = [
    record(1, "12345", T0, agent="agent"),
    record(2, "12319", T0 + timedelta(hours=1), queued=True),
    record(3, "12350", T0 + timedelta(days=1)),
]


@pytest.fixture
async def api(aiohttp_client, sqlite_url, clock):
    app = create_app(make_settings(sqlite_url), now=clock, scanner=False)
    api = Api(await aiohttp_client(app))
    await seed(api)
    async with unit_of_work(app[SESSIONS]) as session:
        await storage.save(session, CALLS)
        await storage.add_callbacks(
            session,
            [
                storage.CallbackEntry(
                    CALLS[1].id, "12319", CALLS[1].caller, "abandoned", T0, "general", 60.0
                ),
                storage.CallbackEntry(
                    CALLS[2].id, "12350", CALLS[2].caller, "requested", T0 + timedelta(days=1)
                ),
            ],
        )
    return api


async def test_calls_newest_first_in_the_list_envelope(api: Api):
    body = await api.call("GET", "/api/v1/calls", "supervisor")
    assert (body["total"], body["page"], body["page_size"]) == (3, 1, 50)
    assert [c["id"] for c in body["items"]] == [c.id for c in reversed(CALLS)]
    first = body["items"][-1]
    assert KEYS | {"order"} <= set(first)
    assert first["hotline"] == "12345" and first["caller"] == "13800130001"
    assert first["offered_at"] == T0.isoformat() and first["outcome"] == "completed"
    assert (first["agent"], first["order"]) == ("agent", None)
    queued = body["items"][1]
    assert (queued["outcome"], queued["queue"], queued["queue_wait_seconds"]) == (
        "abandoned",
        "general",
        60.0,
    )


async def test_calls_filters_and_pages(api: Api):
    body = await api.call("GET", "/api/v1/calls?hotline=12319", "admin")
    assert [c["hotline"] for c in body["items"]] == ["12319"]
    # Dates are local (Asia/Shanghai) midnights; the period is [from, to).
    body = await api.call("GET", "/api/v1/calls?from=2026-11-23&to=2026-11-24", "dispatcher")
    assert body["total"] == 2
    body = await api.call(
        "GET", "/api/v1/calls?from=2026-11-23T11:00:00%2B08:00", "supervisor"
    )  # from 11:00 local
    assert [c["id"] for c in body["items"]] == [CALLS[2].id, CALLS[1].id]
    body = await api.call("GET", "/api/v1/calls?page=2&page_size=2", "supervisor")
    assert (body["total"], len(body["items"]), body["page"]) == (3, 1, 2)
    assert body["items"][0]["id"] == CALLS[0].id


@pytest.mark.parametrize(
    "query",
    ["from=yesterday", "to=2026-11-23T10:00:00", "from=2026-11-24&to=2026-11-23", "page=0"],
)
async def test_bad_call_queries_are_400(api: Api, query: str):
    body = await api.call("GET", f"/api/v1/calls?{query}", "supervisor", expect=400)
    assert body["error"]["code"]


async def test_only_centre_roles_see_calls(api: Api):
    for user in ("zjj", "inspector"):
        for path in ("/api/v1/calls", "/api/v1/callbacks"):
            body = await api.call("GET", path, user, expect=403)
            assert body["error"]["code"] == "forbidden"
    await api.call("GET", "/api/v1/calls", None, expect=401)


async def test_sub_platform_users_see_their_hotlines_and_agents_their_calls(api: Api):
    body = await api.call("GET", "/api/v1/calls", "aq_dispatcher")
    assert [c["hotline"] for c in body["items"]] == ["12350"]
    body = await api.call("GET", "/api/v1/callbacks", "aq_dispatcher")
    assert [c["hotline"] for c in body["items"]] == ["12350"]
    body = await api.call("GET", "/api/v1/calls", "agent")
    assert [c["id"] for c in body["items"]] == [CALLS[0].id]


async def test_callback_list_oldest_first(api: Api):
    body = await api.call("GET", "/api/v1/callbacks", "agent")
    assert body["total"] == 2
    first = body["items"][0]
    assert (first["call"], first["reason"], first["queue"], first["wait_seconds"]) == (
        CALLS[1].id,
        "abandoned",
        "general",
        60.0,
    )
    assert (first["state"], first["caller"], first["created_at"]) == (
        "open",
        CALLS[1].caller,
        T0.isoformat(),
    )
    body = await api.call("GET", "/api/v1/callbacks?hotline=12350&state=open", "supervisor")
    assert [c["reason"] for c in body["items"]] == ["requested"]
    body = await api.call("GET", "/api/v1/callbacks?state=done", "supervisor")
    assert body["total"] == 0
    await api.call("GET", "/api/v1/callbacks?state=whatever", "supervisor", expect=400)


def test_caller_numbers_are_masked_outside_phone_roles():
    unit_user = Actor(username="zjj", role=Role.UNIT)
    assert routes.call_view(CALLS[0], unit_user)["caller"] == "138****0001"
    supervisor = Actor(username="s", role=Role.SUPERVISOR)
    assert routes.call_view(CALLS[0], supervisor)["caller"] == "13800130001"


async def test_routes_are_in_the_openapi_document(api: Api):
    doc = await api.call("GET", "/api/v1/openapi.json")
    params = {p["name"] for p in doc["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert {"hotline", "from", "to", "page", "page_size"} <= params
    assert "/api/v1/callbacks" in doc["paths"]
