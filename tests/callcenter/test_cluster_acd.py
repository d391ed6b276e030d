"""The ACD on shared state: agents claimed in the database, changes heard on every node
(DESIGN §10). SIP is not needed: one pjsua endpoint per process, so the claims and the
agent views are driven directly, as two nodes' intakes would."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from accounts.storage import User
from app import db
from app.bus import PgBus
from app.factory import create_app
from app.keys import SESSIONS
from callcenter import storage
from callcenter.agents import Agent, AgentState
from callcenter.service import CallCenter
from tests.api.conftest import Api, seed
from tests.conftest import MONDAY_10AM, make_settings

pytestmark = pytest.mark.postgres

AGENTS = 6
URI = "sip:{n}@10.0.0.5:5070"


@pytest.fixture
async def pg_url(postgres_server) -> str:
    from tests.postgres import create_database

    return await create_database(postgres_server)


async def add_agents(sessions) -> list[int]:
    """AGENTS available agents, agent 0 idle the longest."""
    async with db.unit_of_work(sessions) as session:
        users = [User(username=f"a{n}", password_hash="x", role="agent") for n in range(AGENTS)]
        session.add_all(users)
        await session.flush()
        await storage.save_agents(
            session,
            [
                Agent(
                    user.id,
                    user.username,
                    AgentState.AVAILABLE,
                    MONDAY_10AM,
                    URI.format(n=n),
                    idle_since=MONDAY_10AM - timedelta(minutes=AGENTS - n),
                )
                for n, user in enumerate(users)
            ],
        )
    return [user.id for user in users]


async def test_two_nodes_claiming_at_once_never_ring_the_same_agent(pg_url):
    engines = [db.create_engine(pg_url) for _ in range(2)]  # two nodes' pools
    try:
        await db.migrate(engines[0])
        nodes = [db.session_factory(engine) for engine in engines]
        ids = await add_agents(nodes[0])

        async def claim(node: int, call: int) -> Agent | None:
            async with db.unit_of_work(nodes[node]) as session:
                agent = await storage.claim_agent(session, ids, f"{call:032x}", MONDAY_10AM)
                await asyncio.sleep(0.01)  # hold the row lock a little: the others overlap
                return agent

        # Twice as many callers as agents, half on each node, all at once.
        claimed = await asyncio.gather(*(claim(n % 2, n) for n in range(AGENTS * 2)))
        won = [agent for agent in claimed if agent is not None]
        assert sorted(agent.user_id for agent in won) == ids  # each agent exactly once
        assert len({agent.call_id for agent in won}) == AGENTS
        async with nodes[1]() as session:
            rows = await storage.load_agents(session)
        assert {row.state for row in rows} == {AgentState.RINGING}
        assert {row.user_id: row.call_id for row in rows} == {
            agent.user_id: agent.call_id for agent in won
        }
        # Nobody is free any more: a further claim gets no one.
        async with db.unit_of_work(nodes[0]) as session:
            assert await storage.claim_agent(session, ids, "f" * 32, MONDAY_10AM) is None
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_longest_idle_free_agent_is_claimed_first(pg_url):
    engine = db.create_engine(pg_url)
    try:
        await db.migrate(engine)
        sessions = db.session_factory(engine)
        ids = await add_agents(sessions)
        async with db.unit_of_work(sessions) as session:
            first = await storage.claim_agent(session, ids[1:], "a" * 32, MONDAY_10AM)
        assert first is not None and first.user_id == ids[1]  # a0 was not a candidate
        assert (first.state, first.call_id) == (AgentState.RINGING, "a" * 32)
    finally:
        await engine.dispose()


async def test_an_agent_signing_in_on_one_node_is_seen_by_another_nodes_acd(
    aiohttp_client, pg_url, clock
):
    settings = make_settings(pg_url)
    settings.sip.node = "web"
    settings.web.session_key = Fernet.generate_key().decode()
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    # Node "sip": an intake (not started: no pjsua here) hearing the bus.
    sip_settings = make_settings(pg_url).sip
    sip_settings.node = "sip"
    app = api.client.server.app
    center = CallCenter(sip_settings, ["12345"], app[SESSIONS], now=clock)
    bus = PgBus("sip", pg_url)
    await bus.start()
    bus.subscribe("agents", center._agents_changed)
    try:
        await api.call(
            "PUT", "/api/v1/agents/me", "agent", {"action": "login", "sip_uri": URI.format(n=1)}
        )
        for _ in range(500):
            seen = [a for a in center.acd.agents.values() if a.username == "agent"]
            if seen and seen[0].state is AgentState.AVAILABLE:
                break
            await asyncio.sleep(0.01)
        assert [(a.state, a.sip_uri) for a in seen] == [(AgentState.AVAILABLE, URI.format(n=1))]
        # It pauses on the web node: the intake no longer counts it as free.
        await api.call("PUT", "/api/v1/agents/me", "agent", {"action": "pause"})
        for _ in range(500):
            if not center.acd.free(clock()):
                break
            await asyncio.sleep(0.01)
        assert center.acd.free(clock()) == []
    finally:
        await bus.stop()
