"""Database plumbing shared by every package: declarative base, engine, sessions.

Each package declares its own tables on `Base` in its `storage.py`; the schema is
created and upgraded only by the Alembic migrations in `app/migrations/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import DateTime, Executable, MetaData, event, insert, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from config import database_file

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as naive UTC, so SQLite and PostgreSQL behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


# Key of `Base.metadata.info`: names of tables and indexes that migrations create and no
# model declares (a full-text table, one dialect's index). A table's name also covers
# the tables named after it (`<name>_...`, e.g. FTS5 shadow tables).
MIGRATION_ONLY = "migration_only"


def include_name(name: str | None, type_: str, _parents: object = None) -> bool:
    """Alembic's name filter: what only the migrations know is not compared with the models."""
    if type_ not in ("table", "index") or name is None:
        return True
    only = Base.metadata.info.get(MIGRATION_ONLY, ())
    return not any(name == known or name.startswith(known + "_") for known in only)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str, echo: bool = False, **pool) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys, WAL and a busy timeout on connect."""
    if (database := database_file(url)) is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, **pool)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction per use case: committed when the block ends, rolled back on error.

    Where the database has a single writer (SQLite, see `Writer`), the block runs on
    the writer's connection and returns once the commit holding it is durable.
    """
    writer = _WRITERS.get(sessions)
    if writer is not None:
        async with writer.transaction() as session:
            yield session
        return
    async with sessions() as session, session.begin():
        yield session


async def insert_rows(session: AsyncSession, rows: Sequence[Base]) -> None:
    """INSERT new rows of one model with one plain statement, outside the ORM's unit of
    work, and set their generated ids. For hot paths (registration): the unit of work
    costs more CPU than the statements. The rows stay out of `session`.

    The statements go straight to the driver's connection (`_RawStatement`) in a block
    of SQLite's writer and on asyncpg, inside the session's transaction: SQLAlchemy's
    execution path (greenlet hops, execution context, result objects) cost more than
    the database's own work on these INSERTs (py-spy, issue 11)."""
    if not rows:
        return
    table = type(rows[0]).__table__
    key = table.autoincrement_column
    names = [c.key for c in table.columns if c is not key]
    values = [{name: getattr(row, name) for name in names} for row in rows]
    dialect = session.bind.dialect
    if (raw := _raw_connection(session)) is not None:
        statement = _RawStatement.insert(table, names, dialect)
        cursor = raw.cursor()
        try:
            for row, params in zip(rows, values, strict=True):
                cursor.execute(statement.sql, statement.bind(params))
                if key is not None:
                    setattr(row, key.key, cursor.lastrowid)
        finally:
            cursor.close()
        return
    if dialect.driver == "asyncpg":
        statement = _RawStatement.insert(table, names, dialect)  # RETURNING the key
        connection = await session.connection()
        adapted = (await connection.get_raw_connection()).dbapi_connection
        async with adapted._execute_mutex:  # as SQLAlchemy's own statements on it
            if adapted._transaction is None:  # BEGIN is sent with the first statement
                await adapted._start_transaction()
            for row, params in zip(rows, values, strict=True):
                new_id = await adapted._connection.fetchval(statement.sql, *statement.bind(params))
                if key is not None:
                    setattr(row, key.key, new_id)
        return
    if key is None:
        await session.execute(insert(table), values)
        return
    stmt = insert(table).returning(key, sort_by_parameter_order=True)
    ids = (await session.execute(stmt, values)).scalars().all()
    for row, new_id in zip(rows, ids, strict=True):
        setattr(row, key.key, new_id)


async def scalar_write(session: AsyncSession, statement: Executable, params: dict) -> Any:
    """The one value a writing statement returns (an UPSERT ... RETURNING), on the
    writer's sqlite3 connection when `session` is a block of SQLite's writer."""
    if (raw := _raw_connection(session)) is not None:
        compiled = _RawStatement.of(statement, session.bind.dialect)
        row = raw.execute(compiled.sql, compiled.bind(params)).fetchone()
        return compiled.result(row[0])
    return (await session.execute(statement, params)).scalar_one()


class _RawStatement:
    """A Core statement compiled once for a dialect with positional parameters, to run on
    a DB-API connection directly; values go through the columns' own bind processors
    (aware datetimes to naive UTC, JSON to text, ...) as SQLAlchemy's execution does."""

    _known: dict[tuple[object, str], _RawStatement] = {}

    def __init__(self, statement: Executable, dialect, column_keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.positiontup is None:
            raise TypeError(f"{dialect.name} has no positional parameters")
        self.sql = compiled.string
        self._compiled = compiled
        self._order = list(compiled.positiontup)
        self._processors = compiled._bind_processors
        returning = compiled._result_columns
        self._result = (
            returning[0][3]._cached_result_processor(dialect, None) if returning else None
        )

    @classmethod
    def insert(cls, table, names: list[str], dialect) -> _RawStatement:
        key = (table, dialect.name)
        if (known := cls._known.get(key)) is None:
            known = cls._known[key] = cls(insert(table), dialect, names)
        return known

    @classmethod
    def of(cls, statement: Executable, dialect) -> _RawStatement:
        key = (statement, dialect.name)  # statements kept by their callers (module level)
        if (known := cls._known.get(key)) is None:
            known = cls._known[key] = cls(statement, dialect, None)
        return known

    def bind(self, values: dict) -> list:
        params = self._compiled.construct_params(values, _check=False)
        processors = self._processors
        out = []
        for name in self._order:
            value = params[name]
            processor = processors.get(name)
            out.append(value if processor is None else processor(value))
        return out

    def result(self, value: Any) -> Any:
        return value if self._result is None else self._result(value)


_RAW = "sqlite_writer_connection"


def _raw_connection(session: AsyncSession) -> sqlite3.Connection | None:
    """The writer's sqlite3 connection while `session` runs one of its blocks (the
    block's SAVEPOINT already on it), unless a call of its thread is still running."""
    inline = session.sync_session.info.get(_RAW)
    if inline is None or inline._on_thread or inline._connection is None:
        return None
    return inline._connection


_AFTER_COMMIT = "after_commit_hooks"


def after_commit(session: AsyncSession | Session, hook: Callable[[], None]) -> None:
    """Run `hook` once the transaction `session` is in has committed (e.g. to update an
    in-memory index); forget it when the transaction, or the writer block it was added
    in, rolls back."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_AFTER_COMMIT, []).append(hook)


# Listened to on every session once (listening per session cost more than a
# registration's INSERTs). SAVEPOINTs fire these events too: only the outermost
# transaction's end counts.
@event.listens_for(Session, "after_commit")
def _run_hooks(session) -> None:
    if not session.in_nested_transaction():
        for hook in session.info.pop(_AFTER_COMMIT, []):
            hook()


@event.listens_for(Session, "after_rollback")
def _drop_hooks(session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_AFTER_COMMIT, None)


def on_commit_of(models: tuple[type, ...], hook: Callable[[], None]) -> None:
    """Call `hook` after every commit that inserted, changed or deleted a row of one of
    `models` through the ORM, in any session of this process (caches of rarely changed
    tables use it to forget what they hold)."""

    def changed(session: Session, _flush_context) -> None:
        rows = itertools.chain(session.new, session.dirty, session.deleted)
        if any(isinstance(row, models) for row in rows):
            after_commit(session, hook)

    event.listen(Session, "after_flush", changed)


_WRITERS: weakref.WeakKeyDictionary[async_sessionmaker, Writer] = weakref.WeakKeyDictionary()


class _InlineConnection(aiosqlite.Connection):
    """The writer's connection: statements run at once on the event loop's thread.

    aiosqlite hands every statement to its own thread and back (two GIL hand-offs and a
    loop iteration each); the writer's statements are short writes to the WAL without
    fsync, and they ran one after another under the writer's lock anyway, so the
    hand-offs were most of a block's time. What can wait stays on the thread: BEGIN
    IMMEDIATE (it waits for the writers of other processes, `to`) and COMMIT (the
    fsync of `synchronous=FULL`). Safe because the writer never uses its connection
    from two tasks at once (its lock).
    """

    @classmethod
    def to(cls, path: str, turn: Path | None) -> _InlineConnection:
        """A connection to `path`; with `turn`, its writes take turns with the writers of
        other processes by an exclusive lock on that file, held from BEGIN to the end of
        the transaction.

        SQLite's own lock makes a waiting writer poll (`busy_timeout` sleeps 1, 2, 5 …
        100 ms): under load the process that just committed begins again before the
        other wakes, and the other's registrations waited up to seconds (p99 1.3 s with
        two processes). A blocked `flock` is woken as soon as the lock is released. It
        has no time limit: a process stopped (SIGSTOP) inside a transaction holds the
        others' writes until it goes on or dies.
        """
        connection = cls(partial(sqlite3.connect, path, check_same_thread=False), 64)
        connection._thread.daemon = True
        if turn is not None:
            connection._turn = FileLock(turn)
        return connection

    _turn: FileLock | None = None

    # Calls handed to the thread and not finished there yet. While one runs (a COMMIT
    # whose awaiting task was cancelled, say), everything else goes to the thread too,
    # after it: an inline call would use the sqlite3 connection from two threads at
    # once (a close or rollback then crashed the process).
    _on_thread = 0
    _counting = threading.Lock()  # the count changes on both threads

    async def _execute(self, fn, *args, **kwargs):
        if self._connection is None or self._on_thread or _may_wait(self._connection, fn, args):
            with self._counting:
                self._on_thread += 1

            def run():
                try:
                    if self._turn is not None and _begins(args):
                        self._turn.take()
                    return fn(*args, **kwargs)
                finally:
                    self._end_turn()
                    with self._counting:
                        self._on_thread -= 1

            return await super()._execute(run)
        try:
            return fn(*args, **kwargs)
        finally:
            self._end_turn()

    def _end_turn(self) -> None:
        turn = self._turn
        if turn is not None and turn.held:
            try:
                busy = self._connection is not None and self._connection.in_transaction
            except sqlite3.ProgrammingError:  # closed
                busy = False
            if not busy:
                turn.release()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._turn is not None:
                self._turn.close()


class FileLock:
    """An exclusive `flock` on a file: among the processes of one machine, one holds it
    at a time, and the kernel releases it when its holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.held = False

    def take(self, wait: bool = True) -> bool:
        """Hold it (without `wait`: only if nobody else does); whether it is held."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def release(self) -> None:
        self.held = False
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock too
            self._fd, self.held = None, False


def _begins(args: tuple) -> bool:
    sql = args[0] if args and isinstance(args[0], str) else ""
    return sql.lstrip()[:5].upper() == "BEGIN"


def _may_wait(connection: sqlite3.Connection, fn, args: tuple) -> bool:
    if fn == connection.commit:
        return True
    sql = args[0] if args and isinstance(args[0], str) else ""
    return sql.lstrip()[:5].upper() in ("BEGIN", "COMMI")


def _begin_immediate(dbapi_connection, _record) -> None:
    # Transactions are begun by the `begin` listener below (the pysqlite driver's own
    # implicit BEGIN would not cover SAVEPOINTs or reads).
    dbapi_connection.isolation_level = None


class Writer:
    """SQLite's one writer, shared by every use case of this process (group commit).

    SQLite lets one connection write at a time; several pooled connections that each
    read and then write wait on each other through `busy_timeout` polling, and every
    commit pays its own fsync. Here one connection does all writing: a use case's block
    runs inside a SAVEPOINT of the transaction that is open on it (an error rolls back
    that block only), and a committer commits whatever blocks have finished, one fsync
    for all of them. A block returns only after its commit, so an acknowledged order is
    durable (`synchronous=FULL`). Reads keep their own pooled connections (WAL).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._lock = asyncio.Lock()
        self._session: AsyncSession | None = None
        self._batch: asyncio.Future[None] | None = None
        self._pending = asyncio.Event()
        self._committer: asyncio.Task | None = None
        self._owner: asyncio.Task | None = None  # the task whose block runs now
        self.commits = 0
        self.blocks = 0

    @classmethod
    async def start(cls, url: str, sessions: async_sessionmaker[AsyncSession]) -> Writer:
        path = make_url(url).database or ":memory:"
        database = database_file(url)
        turn = None if database is None else database.with_name(database.name + "-writer")
        engine = create_engine(
            url, pool_size=1, max_overflow=0, async_creator=lambda: _InlineConnection.to(path, turn)
        )
        event.listen(engine.sync_engine, "connect", _begin_immediate)
        event.listen(
            engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
        )
        writer = cls(engine)
        writer._committer = asyncio.create_task(writer._commit_loop(), name="sqlite-writer")
        _WRITERS[sessions] = writer
        return writer

    async def stop(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        async with self._lock:
            await self._commit()
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError("a write transaction inside another one would wait for itself")
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                if self._session is None:
                    self._session = self._sessions()
                    await self._session.begin()
                    self._batch = asyncio.get_running_loop().create_future()
                session, batch = self._session, self._batch
                info = session.sync_session.info
                first_hook = len(info.get(_AFTER_COMMIT, ()))
                try:
                    async with session.begin_nested():
                        # the SAVEPOINT is emitted with the first statement: now, so
                        # that statements on the raw connection are inside it
                        connection = await session.connection()
                        info[_RAW] = (await connection.get_raw_connection()).driver_connection
                        try:
                            yield session
                        finally:
                            info.pop(_RAW, None)
                except BaseException:
                    # this block is rolled back: so are the hooks it added
                    del info.get(_AFTER_COMMIT, [])[first_hook:]
                    raise
                finally:
                    # The next block starts from the database, not from this one's objects
                    # (they stay usable, detached, as after a session of their own).
                    session.expunge_all()
                    # Commit soon even after an error: the open transaction holds SQLite's
                    # write lock against every other connection.
                    self._pending.set()
                self.blocks += 1
            finally:
                self._owner = None
        await asyncio.shield(batch)

    async def _commit_loop(self) -> None:
        while True:
            await self._pending.wait()
            async with self._lock:
                self._pending.clear()
                await self._commit()

    async def _commit(self) -> None:
        session, batch = self._session, self._batch
        if session is None:
            return
        self._session = self._batch = None
        try:
            await session.commit()
            self.commits += 1
        except Exception as exc:  # every block of the batch learns its write is lost
            log.exception("group commit failed")
            batch.set_exception(exc)
        else:
            batch.set_result(None)
        finally:
            await session.close()


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


# Advisory-lock key of the migrations (PostgreSQL): nodes starting together take turns.
MIGRATION_LOCK = 0x12345_0002


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` with the Alembic migrations.

    On PostgreSQL under a transaction-level advisory lock: of several nodes starting
    together one upgrades, the others wait and then find the schema current."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade, revision)
