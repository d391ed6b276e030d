"""The security audit trail (安全审计, 等保2.0 三级 8.1.4.3): who did what, from where, when,
to what, with which result, for every security-relevant act.

Each line holds the date and time, the event type, the subject (username, role, client
address), the object, the result (success/failure) and a detail. The table is
append-only (migration 0020: triggers refuse UPDATE, DELETE and TRUNCATE) and
hash-chained: a line stores `prev_hash` (the hash of the line before it) and
`hash = sha256(prev_hash + canonical content)`, so `verify` finds the first line that was
altered, removed or slipped in. Removing the newest lines leaves a valid, shorter chain:
the operator's archive of `verify`'s answer (the last seq and hash) is what shows that.

Appending reads the last line and writes the next one, so appends must not interleave:
on SQLite the single writer (`app.db.Writer`) runs one block at a time; on PostgreSQL
`record` takes a transaction-scoped advisory lock first (held to the commit, so the chain
never forks). `seq` is the primary key and gapless: two appends that raced would collide
on it rather than fork. Record late in a transaction: the lock is held until its end.

Retention: nothing is ever deleted here. Older lines (beyond `[audit] retention_days`,
at least 180 days, 6 months) leave the live database only by the operator's archive
procedure (docs/operations.md, "Audit trail"): dump, verify, then start a new database
generation — never by a DELETE.

A line is written in the same transaction as the act (`Trail.act`), so an act that is
rolled back leaves no success line; an act refused because of its input (an `AppError`)
is recorded as a failure in a short transaction of its own, after the act's rolled back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Integer, String, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from accounts.domain import Actor
from app.db import Base, unit_of_work
from app.errors import AppError

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the audit chain (an arbitrary 64-bit constant).
ADVISORY_LOCK_KEY = 0x12345_A0D17
VERIFY_BATCH = 1000


class Event(StrEnum):
    """Event types (审计事件类型); dotted, so `type=user` finds every `user.*`."""

    LOGIN = "login"  # 登录 (success or failure)
    LOGIN_LOCKED = "login.locked"  # 登录失败锁定: this failure locked the account
    LOGOUT = "logout"  # 退出 / 注销令牌
    PASSWORD_CHANGE = "password.change"  # 修改密码
    PASSWORD_RESET = "password.reset"  # 管理员重置密码
    PASSWORD_SIP = "password.sip"  # 坐席软电话 SIP 密码设置 (callcenter/softphones.py)
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"  # role, unit, hotline scope, name, e-mail
    USER_ACTIVE = "user.active"  # 停用 / 启用
    APIKEY_CREATE = "apikey.create"
    APIKEY_REVOKE = "apikey.revoke"
    EXPORT = "export"  # 统计/工单导出 (CSV, XLSX)
    CONFIG_UNIT = "config.unit"
    CONFIG_CATEGORY = "config.category"
    CONFIG_MODEL = "config.model"  # 分类模型重新训练
    CONFIG_HOTLINE = "config.hotline"  # 热线名称、模式、移交单位
    CALENDAR = "calendar"  # 调休/节假日调整
    RECORDING = "recording.listen"  # 通话录音下载/收听
    PHONE_VIEW = "phone.view"  # 完整来电号码展示
    PII_EXPORT = "pii.export"  # 个人信息导出 (PIPL 第45条)
    PII_ANONYMISE = "pii.anonymise"  # 超期个人信息匿名化
    CAMPAIGN = "campaign"  # 外呼任务: created, targets added, started, paused
    DNC = "config.dnc"  # 免打扰名单
    AUDIT_VERIFY = "audit.verify"
    LINKAGE = "linkage"  # 应急联动: a hand-over to 110/119/120/122 (requested or recorded)


class Result(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class AuditEntry(Base):
    """One line of the audit trail (审计记录). Never updated or deleted."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(60), index=True)
    actor_role: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(10))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True)
class Subject:
    """Who acts (主体): the username and role, and the client address (empty for the
    service's own background work)."""

    username: str
    role: str
    address: str = ""

    @classmethod
    def of(cls, actor: Actor | None, address: str, username: str = "") -> Subject:
        """An actor, or (before login) the username as typed with role `-`."""
        if actor is None:
            return cls(username[:60], "-", address[:64])
        return cls(actor.username, actor.role.value, address[:64])


# ---------------------------------------------------------------------- the chain


def _json(value: Any) -> Any:
    """The detail as the database gives it back (so the hash covers what is stored)."""
    return json.loads(json.dumps(value or {}, ensure_ascii=False, default=str))


def canonical(
    seq: int,
    at: datetime,
    event: str,
    actor: str,
    actor_role: str,
    address: str,
    object_: str,
    result: str,
    detail: dict[str, Any],
) -> str:
    stamp = at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    fields = [seq, stamp, event, actor, actor_role, address, object_, result, detail]
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def entry_hash(row: AuditEntry) -> str:
    content = canonical(
        row.seq,
        row.at,
        row.event,
        row.actor,
        row.actor_role,
        row.address,
        row.object,
        row.result,
        row.detail,
    )
    return chain_hash(row.prev_hash, content)


async def record(
    session: AsyncSession,
    event: Event | str,
    subject: Subject,
    object_: str = "",
    result: Result = Result.SUCCESS,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one line to the chain, in `session`'s transaction (committed with the act)."""
    if session.bind.dialect.name == "postgresql":
        lock = text("SELECT pg_advisory_xact_lock(:key)")
        await session.execute(lock, {"key": ADVISORY_LOCK_KEY})
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = (at or datetime.now(UTC)).astimezone(UTC)
    row = AuditEntry(
        seq=seq,
        at=at,
        event=str(event),
        actor=subject.username[:60],
        actor_role=subject.role[:20],
        address=subject.address[:64],
        object=str(object_)[:200],
        result=str(result),
        detail=_json(detail),
        prev_hash=prev,
    )
    row.hash = entry_hash(row)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: intact, or the seq of the first line that breaks the chain."""

    intact: bool
    entries: int
    last_seq: int | None = None
    last_hash: str | None = None
    broken_at: int | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "broken_at": self.broken_at,
            "reason": self.reason,
        }


async def verify(session: AsyncSession) -> Verdict:
    """Walk the chain from the first line: each line's hash must be that of its content
    and the previous hash, and seq must go up by one (a removed line is a gap)."""
    prev, expected, count = GENESIS, 1, 0
    while True:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq >= expected)
                .order_by(AuditEntry.seq)
                .limit(VERIFY_BATCH)
            )
        )
        if not rows:
            break
        for row in rows:
            reason = None
            if row.seq != expected:
                reason = f"missing lines {expected}–{row.seq - 1}"
            elif row.prev_hash != prev:
                reason = "prev_hash does not match the line before"
            elif entry_hash(row) != row.hash:
                reason = "content does not match its hash"
            if reason:
                return Verdict(False, count, expected - 1 or None, prev, row.seq, reason)
            prev, expected, count = row.hash, row.seq + 1, count + 1
        session.expunge_all()
    return Verdict(True, count, count or None, prev if count else None)


# ---------------------------------------------------------------------- search


@dataclass(frozen=True)
class AuditFilter:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    event: str | None = None  # an event type, or its prefix before the dot
    subject: str | None = None  # username
    result: Result | None = None


async def search(
    session: AsyncSession, filters: AuditFilter, page: int, page_size: int
) -> tuple[list[AuditEntry], int]:
    """Newest first."""
    conditions = []
    if filters.start is not None:
        conditions.append(AuditEntry.at >= filters.start)
    if filters.end is not None:
        conditions.append(AuditEntry.at < filters.end)
    if filters.event:
        conditions.append(
            or_(AuditEntry.event == filters.event, AuditEntry.event.startswith(filters.event + "."))
        )
    if filters.subject:
        conditions.append(AuditEntry.actor == filters.subject)
    if filters.result is not None:
        conditions.append(AuditEntry.result == filters.result.value)
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    rows = await session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.seq.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list(rows), total or 0


def entry_json(row: AuditEntry, local: Callable[[datetime], str]) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": local(row.at),
        "type": row.event,
        "subject": row.actor,
        "role": row.actor_role,
        "address": row.address,
        "object": row.object,
        "result": row.result,
        "detail": row.detail,
        "hash": row.hash,
    }


# ---------------------------------------------------------------------- use in acts


@dataclass
class Act:
    """What an audited act fills in while it runs: its object and detail."""

    object: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trail:
    """The audit trail as one request (or background task) uses it: the sessions, who
    acts, and the service clock."""

    sessions: async_sessionmaker[AsyncSession]
    subject: Subject
    now: Callable[[], datetime]

    async def record(
        self,
        session: AsyncSession,
        event: Event,
        object_: str = "",
        result: Result = Result.SUCCESS,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        return await record(session, event, self.subject, object_, result, detail, self.now())

    async def alone(
        self,
        event: Event,
        object_: str = "",
        result: Result = Result.SUCCESS,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """A line in a short transaction of its own (a failure, a read)."""
        async with unit_of_work(self.sessions) as session:
            await self.record(session, event, object_, result, detail)

    @asynccontextmanager
    async def act(
        self, event: Event, object_: str = "", detail: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[AsyncSession, Act]]:
        """One unit of work for an act, its success line written in it; when the act is
        refused (an `AppError`) the failure line is written after the rollback."""
        act = Act(object_, dict(detail or {}))
        try:
            async with unit_of_work(self.sessions) as session:
                yield session, act
                await self.record(session, event, act.object, Result.SUCCESS, act.detail)
        except AppError as exc:
            failed = {**act.detail, "error": exc.code, "message": exc.message}
            await self.alone(event, act.object, Result.FAILURE, failed)
            raise
