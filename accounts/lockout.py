"""Per-account back-off and lockout of failed logins (登录失败锁定), in the database every
node shares, so trying one node after another gains nothing.

Counted per username as typed, whether or not the user exists (an unknown name behaves
like a known one, so the answers reveal nothing). From the `login_backoff_after`-th
consecutive failure on, the next try is refused (429) until base × 2^(n − after) seconds
have passed since the last failure; at `login_lockout_after` failures the account is
locked for `login_lockout_minutes`. A success clears the count; so does a quiet spell of
`login_lockout_minutes` after the last failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.storage import LoginFailure
from app.errors import RateLimited
from config import AuthSettings


class AccountLocked(RateLimited):
    code = "rate_limited"


def _stale(row: LoginFailure, now: datetime, auth: AuthSettings) -> bool:
    return now - row.last_failure_at >= timedelta(minutes=auth.login_lockout_minutes)


def next_try_at(row: LoginFailure, auth: AuthSettings) -> datetime | None:
    """When this username may try again, or None when it may now."""
    if row.locked_until is not None:
        return row.locked_until
    over = row.failures - auth.login_backoff_after
    if over < 0:
        return None
    return row.last_failure_at + timedelta(seconds=auth.login_backoff_base_seconds * 2**over)


async def check(session: AsyncSession, username: str, now: datetime, auth: AuthSettings) -> None:
    """Refuse (429) a try during the back-off or the lockout of this username."""
    row = await session.get(LoginFailure, username)
    if row is None or _stale(row, now, auth):
        return
    at = next_try_at(row, auth)
    if at is not None and now < at:
        wait = max(1, int((at - now).total_seconds() + 0.999))
        if row.locked_until is not None:
            raise AccountLocked(
                f"登录失败次数过多,账号已临时锁定,请 {-(-wait // 60)} 分钟后再试", retry_after=wait
            )
        raise AccountLocked(f"登录失败次数过多,请 {wait} 秒后再试", retry_after=wait)


async def failed(session: AsyncSession, username: str, now: datetime, auth: AuthSettings) -> bool:
    """Count one failure (concurrent failures on several nodes each count); True when
    this failure locked the account."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(LoginFailure)
        .values(username=username, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    row = await session.get(LoginFailure, username, with_for_update=True)
    if _stale(row, now, auth) or (row.locked_until is not None and row.locked_until <= now):
        row.failures, row.locked_until = 0, None
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= auth.login_lockout_after:
        newly = row.locked_until is None
        row.locked_until = now + timedelta(minutes=auth.login_lockout_minutes)
        return newly
    return False


async def succeeded(session: AsyncSession, username: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.username == username))
