"""The real process: start-up, a crash right after acknowledging an order, a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "Lantern-Harbour-Run-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start(db: Path | str, port: int, wait: float = 60, **more: str) -> subprocess.Popen:
    """The service on `port`, once /healthz answers (within `wait` seconds: the test
    runs beside others on a 2-core machine, a start may take a while)."""
    url = db if isinstance(db, str) else f"sqlite+aiosqlite:///{db}"
    env = {
        **os.environ,
        "HOTLINE_DB_URL": url,
        "HOTLINE_ADMIN_PASSWORD": ADMIN,
        "HOTLINE_PORT": str(port),
        "HOTLINE_SIP_ENABLED": "false",  # the SIP intake has its own tests
        "HOTLINE_WORKERS": "1",  # one process unless the test asks for more
        **more,
    }
    proc = subprocess.Popen(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            return proc
                except aiohttp.ClientConnectionError:
                    pass
                if proc.poll() is not None:
                    break  # it stopped: its output says why
                await asyncio.sleep(0.1)
    except BaseException:  # (a cancelled test, say) the process is not left running
        proc.kill()
        proc.communicate()
        raise
    proc.kill()
    raise AssertionError(proc.communicate()[0].decode())


async def _token(http, base, username, password):
    async with http.post(
        f"{base}/api/v1/auth/token", json={"username": username, "password": password}
    ) as resp:
        assert resp.status == 200
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def _agent(http, base: str) -> dict:
    """An agent account (created by the admin, its first password changed)."""
    admin = await _token(http, base, "admin", ADMIN)
    body = {"username": "agent", "password": "Granite-Orchid-Run-2", "role": "agent"}
    async with http.post(f"{base}/api/v1/users", headers=admin, json=body) as resp:
        assert resp.status == 201
    agent = await _token(http, base, "agent", "Granite-Orchid-Run-2")
    change = {"old": "Granite-Orchid-Run-2", "new": "Granite-Orchid-Run-3"}
    async with http.post(f"{base}/api/v1/auth/password", headers=agent, json=change) as resp:
        assert resp.status == 200
    return await _token(http, base, "agent", "Granite-Orchid-Run-3")


CLIENTS = 8


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_no_acknowledged_order_is_lost_when_killed_under_load(tmp_path, request, database):
    """SIGKILL while 8 clients register as fast as they can: every order answered 201
    is there after the restart, with its register event (issue 16, crash under load)."""
    if database == "sqlite":
        db: Path | str = tmp_path / "load.db"
    else:
        from tests.postgres import create_database

        db = await create_database(request.getfixturevalue("postgres_server"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await _start(db, port)
    acknowledged: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            agent = await _agent(http, base)

            async def client(i: int) -> None:
                for n in range(10_000):
                    body = {"channel": "phone", "hotline": "12345", "content": f"路灯不亮 {i}-{n}"}
                    try:
                        async with http.post(
                            f"{base}/api/v1/orders", headers=agent, json=body
                        ) as resp:
                            if resp.status != 201:
                                return
                            acknowledged.append((await resp.json())["number"])
                    except aiohttp.ClientError:  # the kill: the answer never came
                        return

            clients = [asyncio.create_task(client(i)) for i in range(CLIENTS)]
            while len(acknowledged) < 60:
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)  # mid-load, no clean shutdown at all
            await asyncio.gather(*clients)
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    proc = await _start(db, port)
    try:
        async with aiohttp.ClientSession() as http:
            agent = await _token(http, base, "agent", "Granite-Orchid-Run-3")
            missing = []
            for number in acknowledged:
                async with http.get(f"{base}/api/v1/orders/{number}", headers=agent) as resp:
                    if resp.status != 200:
                        missing.append(number)
                    else:
                        assert [e["action"] for e in (await resp.json())["events"]] == ["register"]
        assert len(acknowledged) >= 60 and missing == []
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    assert "Traceback" not in output


async def test_acknowledged_order_survives_kill_and_restart(tmp_path):
    db, port = tmp_path / "crash.db", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await _start(db, port)
    try:
        async with aiohttp.ClientSession() as http:
            admin = await _token(http, base, "admin", ADMIN)
            async with http.post(
                f"{base}/api/v1/users",
                headers=admin,
                json={"username": "agent", "password": "Granite-Orchid-Run-2", "role": "agent"},
            ) as resp:
                assert resp.status == 201
            agent = await _token(http, base, "agent", "Granite-Orchid-Run-2")
            change = {"old": "Granite-Orchid-Run-2", "new": "Granite-Orchid-Run-3"}
            async with http.post(f"{base}/api/v1/auth/password", headers=agent, json=change) as r:
                assert r.status == 200  # an admin-set password is changed first
            async with http.post(
                f"{base}/api/v1/orders",
                headers=agent,
                json={
                    "channel": "phone",
                    "hotline": "12319",
                    "content": "井盖缺失,有安全隐患",
                    "caller_phone": "13700000000",
                },
            ) as resp:
                assert resp.status == 201
                number = (await resp.json())["number"]
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown at all
        proc.communicate(timeout=20)
    proc = await _start(db, port)
    try:
        async with aiohttp.ClientSession() as http:
            agent = await _token(http, base, "agent", "Granite-Orchid-Run-3")
            async with http.get(f"{base}/api/v1/orders/{number}", headers=agent) as resp:
                assert resp.status == 200
                order = await resp.json()
        assert order["state"] == "registered" and order["hotline"] == "12319"
        assert [e["action"] for e in order["events"]] == ["register"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    assert "Traceback" not in output


def test_bad_config_file_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "run.py", "--config", "/nonexistent.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "config file not found" in result.stderr and "Traceback" not in result.stderr


def _worker_of(parent: int) -> int:
    """The pid of the worker `run.py` process `parent` started (not its reading pool)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and any(part.endswith(b"run.py") for part in command):
            return int(entry.name)
    raise AssertionError(f"no worker of {parent}")


async def _node(base: str) -> str | None:
    """The node that answers a new connection (None: nobody listens)."""
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
            http.get(f"{base}/healthz") as resp,
        ):
            return (await resp.json())["node"]
    except aiohttp.ClientConnectionError:
        return None


def _count(exposition: str, route: str, method: str, status: str) -> float | None:
    """`hotline_http_request_seconds_count` of one route, method and status."""
    for line in exposition.splitlines():
        if line.startswith("hotline_http_request_seconds_count{") and all(
            f'{key}="{value}"' in line
            for key, value in (("route", route), ("method", method), ("status", status))
        ):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_workers_share_the_port_as_nodes_of_one_cluster(request, database, tmp_path):
    """`[server] workers = 2`: two processes answer on one port, each a node (own name);
    orders registered through both get distinct numbers, and a registration on one is
    a duplicate on the other; the workers end with the process that started them.
    On SQLite both write the same file and hear each other through `SocketBus`."""
    if database == "postgres":
        from tests.postgres import create_database

        db = await create_database(request.getfixturevalue("postgres_server"))
    else:
        db = tmp_path / "workers.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # two processes start at once: give them longer on a busy machine
    proc = await _start(
        db, port, 120, HOTLINE_WORKERS="2", HOTLINE_NODE="main", HOTLINE_COOKIE_SECURE="false"
    )
    try:
        nodes = set()
        for _ in range(600):
            nodes.add(await _node(base))
            if len(nodes) == 2:
                break
            await asyncio.sleep(0.1)  # the second worker may still be starting
        assert nodes == {"main", "main-w1"}
        # the first process deals new connections in turn: 16 of them, 8 each
        dealt = [await _node(base) for _ in range(16)]
        assert sorted(dealt.count(node) for node in nodes) == [8, 8]
        connector = aiohttp.TCPConnector(force_close=True)  # each request: either worker
        async with aiohttp.ClientSession(connector=connector) as http:
            agent = await _agent(http, base)
            text = "幸福路12号小区门口路灯不亮已经一周了,晚上出行不安全"

            async def register(i: int) -> str:
                body = {"channel": "phone", "hotline": "12345", "content": f"{text}。第{i}次"}
                async with http.post(f"{base}/api/v1/orders", headers=agent, json=body) as resp:
                    assert resp.status == 201, await resp.text()
                    return (await resp.json())["number"]

            first = await register(0)
            body = {"content": text, "hotline": "12345"}
            for _ in range(10):  # new connections, to either worker: both know the order
                for _ in range(50):
                    async with http.post(
                        f"{base}/api/v1/suggestions", headers=agent, json=body
                    ) as resp:
                        found = [d["number"] for d in (await resp.json())["duplicates"]]
                    if found:
                        break
                    await asyncio.sleep(0.1)  # the bus message may be on its way
                assert found == [first]
            numbers = await asyncio.gather(*(register(i) for i in range(1, 21)))
            assert len({first, *numbers}) == 21
            # a scrape, whichever process it is dealt to, counts the requests of both
            scraped = set()
            for _ in range(2):
                async with http.get(f"{base}/metrics") as resp:
                    scraped.add(_count(await resp.text(), "/api/v1/orders", "POST", "201"))
            assert scraped == {21.0}
        # a web login holds whichever process the next request is dealt to (one session
        # key for the run's processes, none configured here): the login form and its
        # POST, then the home page twice, each on a new connection, dealt in turn
        connector = aiohttp.TCPConnector(force_close=True)
        jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as browser:
            async with browser.get(f"{base}/login") as resp:
                token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
            form = {"username": "agent", "password": "Granite-Orchid-Run-3"}
            form["csrf_token"] = token.group(1)
            async with browser.post(f"{base}/login", data=form, allow_redirects=False) as resp:
                assert resp.status == 302, await resp.text()
                home = resp.headers["Location"]
            assert not home.startswith("/login")
            for _ in range(2):
                async with browser.get(f"{base}{home}", allow_redirects=False) as resp:
                    assert resp.status == 200, resp.headers.get("Location")
        # a worker killed is started again under its name, and dealt connections again
        killed = _worker_of(proc.pid)
        os.kill(killed, signal.SIGKILL)
        for _ in range(1200):  # the first process looks each second; a start takes a while
            await asyncio.sleep(0.1)
            with contextlib.suppress(AssertionError):
                if _worker_of(proc.pid) != killed and await _node(base) == "main-w1":
                    break
        else:
            raise AssertionError("the killed worker was not started again")
        dealt = [await _node(base) for _ in range(4)]
        assert sorted(dealt) == ["main", "main", "main-w1", "main-w1"]
    finally:
        proc.kill()  # no clean stop: the worker must notice by itself
        # (both processes wrote to it; the worker checks its parent each second, then stops)
        output = proc.communicate(timeout=60)[0].decode()
    assert "Traceback" not in output
    for _ in range(100):
        if await _node(base) is None:
            break
        await asyncio.sleep(0.1)
    assert await _node(base) is None, "a worker outlived the process that started it"


@pytest.mark.slow
async def test_sigterm_stops_every_process_cleanly(tmp_path):
    """systemd stops with SIGTERM: the first process stops its workers, they end, and
    the metrics directory they shared is removed (exit 0, no traceback). Before, SIGTERM
    ended the first process on the spot."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await _start(tmp_path / "term.db", port, 120, HOTLINE_WORKERS="2")
    try:
        for _ in range(600):  # the worker starts once the first is up
            with contextlib.suppress(AssertionError):
                worker = _worker_of(proc.pid)
                if await _node(base) != await _node(base):  # dealt in turn: both answer
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the worker did not answer")
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        shared = [
            v.split(b"=", 1)[1] for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
        ]
        metrics_dir = Path(shared[0].decode())
        assert metrics_dir.is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=60)[0].decode()
    assert "Traceback" not in output
    assert not Path(f"/proc/{worker}").exists()
    assert not metrics_dir.exists()


def test_workers_need_a_shared_database():
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env={**os.environ, "HOTLINE_DB_URL": "sqlite+aiosqlite:///:memory:"}
        | {"HOTLINE_WORKERS": "2", "HOTLINE_SIP_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "server.workers > 1 needs a database the processes share" in result.stderr
    assert "Traceback" not in result.stderr


GIB = 2**30


def test_auto_workers_follow_cores_memory_and_the_database():
    from config import auto_workers

    shared = "sqlite+aiosqlite:////srv/hotline/hotline.db"
    assert auto_workers(shared, cores=2, available=24 * GIB) == 2
    assert auto_workers("postgresql+asyncpg://db/hotline", cores=16, available=64 * GIB) == 4
    assert auto_workers(shared, cores=8, available=3 * GIB + GIB // 2) == 2  # 1.5 GiB each
    assert auto_workers(shared, cores=2, available=GIB) == 1
    assert auto_workers(shared, cores=1, available=24 * GIB) == 1
    for memory in ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://"):
        assert auto_workers(memory, cores=8, available=64 * GIB) == 1


def test_workers_setting_is_a_number_once_loaded(tmp_path):
    from config import ConfigError, auto_workers, load_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    default = load_settings(environ={"HOTLINE_DB_URL": url}).server.workers
    assert default == auto_workers(url)  # config/default.toml says "auto"
    assert (
        load_settings(environ={"HOTLINE_DB_URL": url, "HOTLINE_WORKERS": "3"}).server.workers == 3
    )
    in_memory = {"HOTLINE_DB_URL": "sqlite+aiosqlite:///:memory:", "HOTLINE_WORKERS": "auto"}
    assert load_settings(environ=in_memory).server.workers == 1
    for bad in ("0", "many", "65"):
        with pytest.raises(ConfigError):
            load_settings(environ={"HOTLINE_DB_URL": url, "HOTLINE_WORKERS": bad})


def test_reading_workers_share_the_cores_among_the_processes(monkeypatch):
    from dispatch.reading_pool import default_workers

    for cores, processes, readers in [
        (1, 1, 0),
        (2, 1, 1),
        (2, 2, 1),
        (8, 1, 4),
        (8, 4, 1),
        (16, 4, 3),
    ]:
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert default_workers(processes) == readers, (cores, processes)
