"""Token → actor cache (accounts/actor_cache.py): a hit spares the database, and any
committed change to users or tokens empties it at once."""

from __future__ import annotations

from sqlalchemy import select

from accounts.actor_cache import ActorCache
from accounts.domain import Actor, Role
from accounts.storage import User
from app.db import unit_of_work
from app.keys import SESSIONS


def test_entries_expire_on_the_given_clock():
    now = [1000.0]
    cache = ActorCache(5, lambda: now[0])
    actor = Actor("agent", Role.AGENT, None, frozenset())
    cache.put("t", actor)
    assert cache.get("t") is actor
    now[0] += 5
    assert cache.get("t") is None
    off = ActorCache(0, lambda: now[0])
    off.put("t", actor)
    assert off.get("t") is None


async def test_revocation_and_deactivation_take_effect_at_once(api):
    token = await api.login("agent")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/api/v1/orders", headers=headers)).status == 200
    assert (await api.client.get("/api/v1/orders", headers=headers)).status == 200  # cached
    assert (await api.client.post("/api/v1/auth/revoke", headers=headers)).status == 200
    assert (await api.client.get("/api/v1/orders", headers=headers)).status == 401

    token = await api.login("zjj")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/api/v1/orders", headers=headers)).status == 200
    async with unit_of_work(api.client.app[SESSIONS]) as session:  # as the admin screen does
        user = await session.scalar(select(User).where(User.username == "zjj"))
        user.active = False
    assert (await api.client.get("/api/v1/orders", headers=headers)).status == 401
