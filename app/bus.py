"""The cluster bus: what one node changes, every other node hears (DESIGN §10).

Each node keeps things in memory that other nodes can change: caches (who a token
stands for, the unit/category catalogue), the category model, the knowledge-base index,
the calendar, agents' states, and the WebSockets of the agents signed in on it. A node
that changes one of them publishes a small message on a topic; every *other* node runs
the handlers it subscribed for that topic (the publisher has already done the change
itself, so it never hears its own messages).

- `PgBus` (PostgreSQL): LISTEN/NOTIFY on one dedicated asyncpg connection per node,
  re-opened when it breaks; after a re-open every handler is called with
  `{"resync": True}` (messages sent meanwhile are lost, so caches start afresh).
- `SocketBus` (SQLite file): the processes of one machine on the same database file
  (`[server] workers` > 1): each node binds a Unix datagram socket in a directory named
  after the database, and a message is sent to every other socket there (one that
  refuses is a crashed node's: skipped); a full queue is waited for, one second at most
  (then the message is lost and logged).
- `LocalBus` (SQLite in memory): the nodes of one process (tests).

Messages are JSON `{"t": topic, "o": origin node, "d": data}`; NOTIFY payloads stay
under PostgreSQL's 8,000 bytes (a larger one is refused and logged). Delivery is best
effort: handlers invalidate or reload, they never carry the only copy of a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import inspect
import json
import logging
import os
import socket
import tempfile
import time
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from config import database_file

log = logging.getLogger(__name__)

CHANNEL = "hotline_cluster"
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes and more
RESYNC = {"resync": True}
# What a lost or refused connection raises.
DOWN = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]

_BUSES: weakref.WeakSet[Bus] = weakref.WeakSet()


class Bus:
    """Topics, handlers and the bookkeeping both implementations share."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._tasks: set[asyncio.Task] = set()
        self.received = 0
        self.sent = 0

    @property
    def up(self) -> bool:
        return True

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, data: dict[str, Any] | None = None) -> bool:
        """Tell the other nodes; False when the message could not be sent (logged)."""
        raise NotImplementedError

    def publish_soon(self, topic: str, data: dict[str, Any] | None = None) -> None:
        """`publish` from synchronous code (an after-commit hook, a SIP event)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: nothing runs that could hear it
        self._keep(loop.create_task(self.publish(topic, data), name=f"bus-publish-{topic}"))

    async def start(self) -> None:
        _BUSES.add(self)  # `announce` uses the running buses

    async def stop(self) -> None:
        _BUSES.discard(self)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _encode(self, topic: str, data: dict[str, Any] | None) -> str | None:
        payload = json.dumps(
            {"t": topic, "o": self.node, "d": data or {}}, ensure_ascii=False, default=str
        )
        if len(payload.encode()) > MAX_PAYLOAD:
            log.error("bus message on %r too large (%d bytes): not sent", topic, len(payload))
            return None
        return payload

    def _deliver(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            topic, origin, data = message["t"], message["o"], message["d"]
        except (ValueError, KeyError, TypeError):
            log.warning("bus: unreadable message %.200r", payload)
            return
        if origin == self.node:
            return  # the publisher has done the change itself
        self.received += 1
        for handler in self._handlers.get(topic, ()):
            self._run(handler, data, topic)

    def _resync(self) -> None:
        for topic, handlers in self._handlers.items():
            for handler in handlers:
                self._run(handler, RESYNC, topic)

    def _run(self, handler: Handler, data: dict[str, Any], topic: str) -> None:
        try:
            result = handler(data)
        except Exception:
            log.exception("bus handler of %r failed", topic)
            return
        if inspect.isawaitable(result):
            self._keep(asyncio.ensure_future(result))

    def _keep(self, task: asyncio.Future) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bus task failed", exc_info=task.exception())


class LocalBus(Bus):
    """The nodes of this process on the same database (SQLite in memory: tests)."""

    _peers: dict[str, weakref.WeakSet[LocalBus]] = defaultdict(weakref.WeakSet)

    def __init__(self, node: str, database_url: str) -> None:
        super().__init__(node)
        self.database_url = database_url

    async def start(self) -> None:
        await super().start()
        self._peers[self.database_url].add(self)

    async def stop(self) -> None:
        self._peers[self.database_url].discard(self)
        await super().stop()

    def publish_soon(self, topic: str, data: dict[str, Any] | None = None) -> None:
        if len(self._peers[self.database_url]) > 1:  # a single node has nobody to tell
            super().publish_soon(topic, data)

    async def publish(self, topic: str, data: dict[str, Any] | None = None) -> bool:
        payload = self._encode(topic, data)
        if payload is None:
            return False
        self.sent += 1
        for peer in list(self._peers[self.database_url]):
            if peer is not self:
                peer._deliver(payload)
        return True


def socket_dir(database: Path) -> Path:
    """Where the nodes on `database` bind their sockets: a short path (a Unix socket's
    name has at most 107 bytes), the same for every process that opens the file."""
    digest = hashlib.sha1(str(database).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"hotline-bus-{digest}"


SEND_SECONDS = 1.0  # a peer's full queue is waited for this long, then the message is lost
FRESH_NS = 200_000_000  # a directory changed this recently may change again unseen


class SocketBus(Bus):
    """The nodes of one machine on the same SQLite file: Unix datagram sockets."""

    def __init__(self, node: str, database: Path) -> None:
        super().__init__(node)
        self.dir = socket_dir(database)
        self.path = self.dir / (hashlib.sha1(node.encode()).hexdigest()[:16] + ".sock")
        self._sock: socket.socket | None = None
        self._sending = asyncio.Lock()  # one message after the other: order is kept
        self._listed: tuple[int, list[Path]] = (-1, [])

    @property
    def up(self) -> bool:
        return self._sock is not None

    async def start(self) -> None:
        for attempt in range(3):  # the last node of a stop may remove the directory meanwhile
            self.dir.mkdir(mode=0o700, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a crashed process of this node's name left it
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(str(self.path))
                break
            except FileNotFoundError:
                sock.close()
                if attempt == 2:
                    raise
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            with contextlib.suppress(OSError):
                self.dir.rmdir()  # only when no other node is left

    def _readable(self) -> None:
        while self._sock is not None:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            self._deliver(data.decode("utf-8", "replace"))

    def _peers(self) -> list[Path]:
        """The other nodes' sockets; listed again when the directory changed (its mtime,
        on a coarse clock: within FRESH_NS of a change it is listed every time)."""
        try:
            stamp = os.stat(self.dir).st_mtime_ns
        except FileNotFoundError:
            return []
        listed_at, peers = self._listed
        if stamp != listed_at or time.time_ns() - stamp < FRESH_NS:
            names = os.listdir(self.dir)
            peers = [self.dir / n for n in names if n.endswith(".sock") and n != self.path.name]
            self._listed = (stamp, peers)
        return peers

    def publish_soon(self, topic: str, data: dict[str, Any] | None = None) -> None:
        if self._sock is not None and self._peers():  # a single node has nobody to tell
            super().publish_soon(topic, data)

    async def publish(self, topic: str, data: dict[str, Any] | None = None) -> bool:
        payload = self._encode(topic, data)
        if payload is None or self._sock is None:
            return False
        message = payload.encode()
        async with self._sending:
            for peer in self._peers():
                await self._send(message, peer, topic)
        self.sent += 1
        return True

    async def _send(self, message: bytes, peer: Path, topic: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEND_SECONDS
        delay = 0.0005
        while self._sock is not None:
            try:
                self._sock.sendto(message, str(peer))
                return
            except (BlockingIOError, InterruptedError):
                pass  # its queue is full: it is busy, wait a little
            except (ConnectionRefusedError, FileNotFoundError):
                return  # nobody reads there: a crashed node's (its restart binds it again)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    log.warning("bus: message on %r to %s not sent: %s", topic, peer.name, exc)
                    return
            if loop.time() > deadline:
                log.warning("bus: %s does not read; message on %r lost", peer.name, topic)
                return
            await asyncio.sleep(delay)
            delay = min(2 * delay, 0.05)


def asyncpg_dsn(url: str) -> str:
    """The libpq DSN of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgBus(Bus):
    """LISTEN/NOTIFY on a dedicated connection, re-opened while the node runs."""

    def __init__(self, node: str, database_url: str, reconnect_seconds: float = 1.0) -> None:
        super().__init__(node)
        self.dsn = asyncpg_dsn(database_url)
        self.reconnect_seconds = reconnect_seconds
        self._conn = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._sending = asyncio.Lock()  # a connection runs one statement at a time
        self.reconnects = 0

    @property
    def up(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Open the connection (a failure here stops the node's start-up: the database
        it was told to use does not answer)."""
        await self._connect()
        self._runner = asyncio.create_task(self._keep_connected(), name="bus")
        await super().start()

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await super().stop()
        await self._close()

    async def publish(self, topic: str, data: dict[str, Any] | None = None) -> bool:
        payload = self._encode(topic, data)
        if payload is None:
            return False
        conn = self._conn
        if conn is None or conn.is_closed():
            log.warning("bus down: message on %r not sent", topic)
            return False
        try:
            async with self._sending:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except DOWN as exc:  # the connection broke meanwhile
            log.warning("bus: message on %r not sent: %s", topic, exc)
            self._lost.set()
            return False
        self.sent += 1
        return True

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self._lost.clear()
        self._conn = conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    def _on_notify(self, _conn, _pid: int, _channel: str, payload: str) -> None:
        self._deliver(payload)

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("bus connection lost; re-opening")
            await self._close()
            while True:
                try:
                    await self._connect()
                    break
                except DOWN as exc:
                    log.warning("bus: cannot connect (%s); retrying", exc)
                await asyncio.sleep(self.reconnect_seconds)
            self.reconnects += 1
            log.info("bus connection re-opened; caches start afresh")
            self._resync()


def create_bus(node: str, database_url: str, reconnect_seconds: float = 1.0) -> Bus:
    if database_url.startswith("postgresql"):
        return PgBus(node, database_url, reconnect_seconds)
    if (database := database_file(database_url)) is not None:
        return SocketBus(node, database)
    return LocalBus(node, database_url)


def announce(topic: str, data: dict[str, Any] | None = None) -> None:
    """From synchronous code without a bus at hand (a process-wide after-commit hook):
    tell the other nodes through every bus of this process."""
    for bus in list(_BUSES):
        bus.publish_soon(topic, data)
