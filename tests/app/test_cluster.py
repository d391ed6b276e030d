"""Two nodes on one database, in one process: the bus, the leader, shared limits,
screen pops across nodes (DESIGN §10). On PostgreSQL (LISTEN/NOTIFY, an advisory lock)
and on a SQLite file (Unix datagram sockets, `flock`), as `[server] workers` > 1 runs
them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from cryptography.fernet import Fernet

from accounts.actor_cache import ActorCache
from accounts.domain import Actor, Role
from accounts.routes import THROTTLE
from app.bus import LocalBus, SocketBus, asyncpg_dsn, create_bus
from app.db import unit_of_work
from app.factory import create_app
from app.keys import (
    BUS,
    DISPATCH,
    DUPLICATES,
    LEADER,
    PUSH,
    REQUEST_LIMITER,
    SESSIONS,
    SETTINGS,
)
from app.leader import ClusterNode, live_nodes
from callcenter import desk
from callcenter import storage as callcenter_storage
from callcenter.agents import Agent, AgentState
from callcenter.domain import CallRecord
from tests.api.conftest import Api, seed
from tests.conftest import FakeClock, make_settings
from tests.web.conftest import Browser

POLL = 0.2  # [cluster] leader_poll_seconds of the test nodes
URI = "sip:1001@10.0.0.5:5070"


@pytest.fixture
async def pg_url(postgres_server) -> str:
    from tests.postgres import create_database

    return await create_database(postgres_server)


def node_settings(url: str, name: str, session_key: str):
    settings = make_settings(url)
    settings.sip.node = name
    settings.cluster.leader_poll_seconds = POLL
    settings.web.session_key = session_key  # one key for the cluster: logins work anywhere
    return settings


async def two_nodes(aiohttp_client, url: str, clock: FakeClock) -> tuple[Api, Api]:
    """Node `a` (started first: the leader) and node `b` on the same database."""
    key = Fernet.generate_key().decode()
    first = Api(await aiohttp_client(create_app(node_settings(url, "a", key), now=clock)))
    await seed(first)
    second = Api(await aiohttp_client(create_app(node_settings(url, "b", key), now=clock)))
    return first, second


@pytest.fixture
async def nodes(aiohttp_client, any_db_url, clock: FakeClock) -> tuple[Api, Api]:
    return await two_nodes(aiohttp_client, any_db_url, clock)


@pytest.fixture
async def pg_nodes(aiohttp_client, pg_url, clock: FakeClock) -> tuple[Api, Api]:
    return await two_nodes(aiohttp_client, pg_url, clock)


async def until(condition, seconds: float = 5.0) -> float:
    """Wait for `condition()`; how long it took (fails after `seconds`)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        assert loop.time() - start < seconds, "condition not met in time"
        await asyncio.sleep(0.01)
    return loop.time() - start


def app_of(api: Api):
    return api.client.server.app


async def test_a_message_from_one_node_reaches_the_other_and_empties_its_cache(nodes):
    a, b = map(app_of, nodes)
    heard = []
    b[BUS].subscribe("test", heard.append)
    a[BUS].subscribe("test", lambda data: heard.append(("self", data)))
    assert await a[BUS].publish("test", {"n": 1})
    await until(lambda: heard)
    assert heard == [{"n": 1}]  # the publisher does not hear itself

    # Node b remembers who a token stands for; node a says users changed: b forgets.
    cache = ActorCache(60)
    cache.put("token", Actor(username="x", role=Role.AGENT))
    b[BUS].subscribe("probe", lambda _data: heard.append("probe"))
    await a[BUS].publish("actors")
    await a[BUS].publish("probe")  # delivered in order: after "actors"
    await until(lambda: "probe" in heard)
    assert cache.get("token") is None


async def test_a_calendar_change_on_one_node_applies_on_the_other(nodes):
    first, second = nodes
    day = date(2026, 12, 12)  # a Saturday
    assert not app_of(second)[DISPATCH].policy.calendar.is_working_day(day)
    await first.call(
        "PUT", f"/api/v1/calendar/{day}", "admin", {"working": True, "note": "调休上班"}
    )
    calendar = lambda: app_of(second)[DISPATCH].policy.calendar  # noqa: E731
    await until(lambda: calendar().is_working_day(day))
    got = await second.call("GET", f"/api/v1/calendar?from={day}&to={day}", "admin")
    assert got["items"][0]["working"] is True


@pytest.mark.postgres
async def test_the_leader_moves_when_its_database_session_dies(pg_nodes):
    nodes = pg_nodes
    a, b = map(app_of, nodes)
    assert a[LEADER].is_leader and not b[LEADER].is_leader
    health = await nodes[1].client.get("/healthz")
    parts = (await health.json())["parts"]
    assert parts["leader"] is False and parts["bus"] == "up"
    assert parts["background"]["scanner"] == "standby"

    admin = await asyncpg.connect(asyncpg_dsn(a[SETTINGS].database.url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", a[LEADER].backend_pid)
    finally:
        await admin.close()
    took = await until(lambda: b[LEADER].is_leader, seconds=POLL * 2 + 2)
    assert took < POLL * 2 + 1
    await until(lambda: not a[LEADER].is_leader)  # it noticed, and stopped its jobs
    assert b[LEADER].parts()["scanner"] == "running"
    assert a[LEADER].parts()["scanner"] == "standby"
    parts = (await (await nodes[1].client.get("/healthz")).json())["parts"]
    assert parts["leader"] is True and parts["background"]["dead_nodes"] == "running"
    # Node a's election connection comes back as a standby; only one node leads.
    await asyncio.sleep(POLL * 3)
    assert [a[LEADER].is_leader, b[LEADER].is_leader] == [False, True]


async def test_on_a_sqlite_file_the_leader_moves_when_its_node_lets_go_of_the_lock(
    aiohttp_client, sqlite_url, clock: FakeClock
):
    """The `flock` beside the database file: a node that stops (or dies: the kernel
    closes its files) releases it, a standby takes it at its next poll."""
    a, b = map(app_of, await two_nodes(aiohttp_client, sqlite_url, clock))
    assert a[LEADER].is_leader and not b[LEADER].is_leader
    assert b[LEADER].parts()["scanner"] == "standby"
    await a[LEADER].stop()
    took = await until(lambda: b[LEADER].is_leader, seconds=POLL * 2 + 2)
    assert took < POLL * 2 + 1
    assert b[LEADER].parts()["scanner"] == "running"
    await asyncio.sleep(POLL * 3)
    assert [a[LEADER].is_leader, b[LEADER].is_leader] == [False, True]


async def test_the_leader_cleans_up_after_a_dead_node(nodes, clock: FakeClock):
    a, b = map(app_of, nodes)
    user_id = await desk.user_id_of(a[SESSIONS], "agent")
    record = CallRecord(
        id="d" * 32,
        hotline="12345",
        caller="13800000000",
        offered_at=clock(),
        answered_at=clock(),
        agent="agent",
        intake="ghost",
    )
    talking = Agent(user_id, "agent", AgentState.TALKING, clock(), URI, call_id=record.id)
    reloaded = []
    b[BUS].subscribe("agents", reloaded.append)
    async with unit_of_work(a[SESSIONS]) as session:
        # Node "ghost" took a call for the agent, then stopped beating 60 s ago.
        long_ago = clock() - timedelta(seconds=60)
        session.add(ClusterNode(name="ghost", started_at=long_ago, seen_at=long_ago))
        await callcenter_storage.save(session, [record])
        await callcenter_storage.save_agents(session, [talking])
    await until(lambda: reloaded)  # the leader freed the agent and told the others
    assert reloaded == [{"user_ids": [user_id]}]
    async with a[SESSIONS]() as session:
        assert [n.name for n in await live_nodes(session)] == ["a", "b"]
        agent = await callcenter_storage.load_agent(session, user_id)
        call = await callcenter_storage.get_call(session, record.id)
    assert (agent.state, agent.call_id) == (AgentState.AVAILABLE, None)
    assert call.ended_at is not None and call.outcome == "completed"


async def test_failed_logins_per_address_count_across_nodes(nodes):
    for api in nodes:
        app_of(api)[THROTTLE].limit = 3

    async def login(api: Api, username: str) -> tuple[int, dict]:
        resp = await api.client.post(
            "/api/v1/auth/token", json={"username": username, "password": "wrong-password-1"}
        )
        return resp.status, await resp.json()

    # Different names: the per-account back-off stays out of it; the address is shared.
    assert (await login(nodes[0], "nobody1"))[0] == 401
    assert (await login(nodes[1], "nobody2"))[0] == 401
    assert (await login(nodes[0], "nobody3"))[0] == 401
    for api in nodes:  # each node has seen fewer than 3, the cluster 3
        status, body = await login(api, "nobody4")
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert "该地址" in body["error"]["message"]


async def test_api_requests_of_a_user_count_across_nodes(nodes):
    first, second = nodes
    for api in nodes:
        await api.login("agent")
        await app_of(api)[REQUEST_LIMITER].sync(app_of(api)[SESSIONS])
        app_of(api)[SETTINGS].auth.user_requests_per_window = 6  # the login's request + 5
    for _ in range(3):
        await first.call("GET", "/api/v1/orders", "agent")
    await app_of(first)[REQUEST_LIMITER].sync(app_of(first)[SESSIONS])  # once a second
    await app_of(second)[REQUEST_LIMITER].sync(app_of(second)[SESSIONS])
    used = [await second.call("GET", "/api/v1/orders", "agent", expect=s) for s in (200, 200)]
    assert len(used) == 2
    error = await second.call("GET", "/api/v1/orders", "agent", expect=429)
    assert error["error"]["code"] == "rate_limited"
    await second.call("GET", "/api/v1/orders", "supervisor")


async def test_a_screen_pop_reaches_the_agent_signed_in_on_the_other_node(nodes):
    second = nodes[1]
    a, b = map(app_of, nodes)
    browser = Browser(second.client)
    await browser.login("agent")
    user_id = await desk.user_id_of(b[SESSIONS], "agent")
    async with second.client.ws_connect("/web/ws/agent") as ws:
        await until(lambda: b[PUSH].listening(user_id))
        record = CallRecord(
            id="c" * 32,
            hotline="12345",
            caller="13800000000",
            offered_at=a[DISPATCH].now(),
            queue="general",
        )
        # The call is on node a; the agent's console is on node b.
        assert await desk.screen_pop(a, Agent(user_id, "agent"), record) == 0
        event = await asyncio.wait_for(ws.receive_json(), 5)
    assert (event["type"], event["call_id"], event["caller"]) == ("call", record.id, "13800000000")


async def test_a_socket_bus_passes_a_crashed_nodes_socket_and_waits_for_a_full_queue(tmp_path):
    """Processes on one SQLite file: a socket nobody reads any more (its process was
    killed) is skipped; a peer that does not read for a while (more messages than the
    kernel queues, net.unix.max_dgram_qlen) gets every message, in order, once it reads."""
    database = tmp_path / "hotline.db"
    first, second = SocketBus("a", database), SocketBus("b", database)
    heard = []
    for bus in (first, second):
        await bus.start()
    second.subscribe("t", lambda data: heard.append(data["n"]))
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    crashed.bind(str(first.dir / "crashed.sock"))
    crashed.close()  # the file stays, nobody reads there
    try:
        assert await first.publish("t", {"n": 0})
        await until(lambda: heard == [0])

        loop = asyncio.get_running_loop()
        loop.remove_reader(second._sock.fileno())  # b is busy
        sending = asyncio.ensure_future(
            asyncio.gather(*(first.publish("t", {"n": n}) for n in range(1, 41)))
        )
        await asyncio.sleep(0.2)
        assert not sending.done() and heard == [0]  # the queue is full: a waits
        loop.add_reader(second._sock.fileno(), second._readable)
        assert all(await asyncio.wait_for(sending, 5))
        await until(lambda: len(heard) == 41)
        assert heard == list(range(41))
    finally:
        for bus in (first, second):
            await bus.stop()
    assert not second.path.exists()


async def test_nodes_of_one_process_share_a_local_bus_in_memory():
    url = "sqlite+aiosqlite:///:memory:"
    assert isinstance(create_bus("a", url), LocalBus)
    first, second = LocalBus("a", url), LocalBus("b", url)
    other = LocalBus("c", url + "?other")
    heard = []
    for bus in (first, second, other):
        await bus.start()
        bus.subscribe("t", lambda data, bus=bus: heard.append((bus.node, data)))
    await first.publish("t", {"x": 1})
    assert heard == [("b", {"x": 1})]
    for bus in (first, second, other):
        await bus.stop()


async def test_a_node_started_under_a_live_nodes_name_says_so(
    nodes, aiohttp_client, any_db_url, clock, caplog
):
    settings = node_settings(any_db_url, "a", Fernet.generate_key().decode())
    twin = await aiohttp_client(create_app(settings, now=clock))
    assert "'a' is in use by a live node" in caplog.text
    await twin.close()  # a clean stop: its row leaves the list (the other "a" beats on)
    async with app_of(nodes[0])[SESSIONS]() as session:
        names = [node.name for node in await live_nodes(session)]
    assert "b" in names


ROOT = Path(__file__).resolve().parents[2]


async def start_node(url: str, name: str, port: int, config: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HOTLINE_DB_URL": url,
        "HOTLINE_NODE": name,
        "HOTLINE_PORT": str(port),
        "HOTLINE_ADMIN_PASSWORD": "Lantern-Harbour-Run-1",
        "HOTLINE_SIP_ENABLED": "false",
        "HOTLINE_WORKERS": "1",  # a node is one process here
    }
    proc = subprocess.Popen(
        [sys.executable, "run.py", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            if await health(port) is not None:
                return proc
            await asyncio.sleep(0.1)
    except BaseException:  # (a cancelled test, say) the process is not left running
        proc.kill()
        proc.communicate()
        raise
    proc.kill()
    raise AssertionError(proc.communicate()[0].decode())


async def health(port: int) -> dict | None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            return (await resp.json())["parts"] if resp.status == 200 else None
    except aiohttp.ClientError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
async def test_background_jobs_move_to_the_survivor_when_the_leader_process_is_killed(
    any_db_url, tmp_path
):
    config = tmp_path / "cluster.toml"
    config.write_text("[cluster]\nleader_poll_seconds = 0.5\n")
    ports = [free_port(), free_port()]
    procs = [await start_node(any_db_url, "n1", ports[0], config)]
    try:
        procs.append(await start_node(any_db_url, "n2", ports[1], config))
        first, second = await health(ports[0]), await health(ports[1])
        assert (first["leader"], second["leader"]) == (True, False)
        assert second["background"]["scanner"] == "standby"
        procs[0].send_signal(signal.SIGKILL)  # no clean stop: its session just ends
        start = time.monotonic()
        while not (parts := await health(ports[1]))["leader"]:
            assert time.monotonic() - start < 5, "no takeover within 5 s"
            await asyncio.sleep(0.05)
        assert set(parts["background"].values()) == {"running"}
        assert time.monotonic() - start < 0.5 * 2 + 2
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=20)


async def test_an_order_registered_on_one_node_is_a_duplicate_on_the_other(nodes):
    """The duplicate index of each node hears the other's registrations and changes on
    the bus (one process per worker, or per node, each with its own index)."""
    first, second = nodes
    text = "幸福路12号小区门口路灯不亮已经一周了,晚上出行不安全"
    number = (await first.register(content=text, address="幸福路12号"))["number"]
    index = app_of(second)[DUPLICATES]
    await until(lambda: number in index)
    body = {"content": text, "address": "幸福路12号", "hotline": "12345"}
    found = await second.call("POST", "/api/v1/suggestions", "agent", body)
    assert number in [d["number"] for d in found["duplicates"]]
    # settled on the first node (here: marked invalid): the second stops suggesting it
    await first.act("dispatcher", number, "invalidate", reason="重复测试")
    await until(lambda: number not in index)
