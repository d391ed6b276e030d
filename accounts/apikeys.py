"""Partner API keys (接口密钥, DESIGN §9): `X-API-Key: <key>` acts as an API user.

A key bound to a unit acts with that unit's scope (role `unit`: its orders only, the
unit's actions); a key without a unit is for Open311 only. Only the key's SHA-256 is
stored. Each key has a fixed-window request counter in its own row, so every node of a
cluster counts against one limit; the increment is one atomic UPDATE.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.domain import Actor, Role, UnitRef
from accounts.exceptions import AccountInvalid, TokenInvalid
from accounts.storage import ApiKey
from app.errors import NotFound, RateLimited
from config import AuthSettings
from dispatch.storage import Unit

PREFIX = "hk_"


class ApiKeyInvalid(TokenInvalid):
    code = "invalid_api_key"


class ApiKeyRateLimited(RateLimited):
    code = "rate_limited"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def window_start(now: datetime, seconds: float) -> datetime:
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def key_username(row: ApiKey) -> str:
    """How the key's actions appear in the order log (never a login name: ':' is not
    allowed in usernames)."""
    return f"key:{row.id}:{row.name}"[:60]


async def issue(
    session: AsyncSession, name: str, unit: str | None, by: Actor, now: datetime
) -> tuple[ApiKey, str]:
    """新增接口密钥: the key is answered once and never stored, only its digest."""
    unit_id = None
    if unit:
        unit_row = await session.scalar(select(Unit).where(Unit.code == unit))
        if unit_row is None or not unit_row.active:
            raise AccountInvalid(f"未知或已停用的单位: {unit}", code="unknown_unit")
        unit_id = unit_row.id
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, key_hash=digest(key), created_by=by.username, created_at=now, unit_id=unit_id
    )
    session.add(row)
    await session.flush()
    return row, key


async def listed(session: AsyncSession) -> list[tuple[ApiKey, str | None]]:
    rows = await session.execute(
        select(ApiKey, Unit.code).outerjoin(Unit, Unit.id == ApiKey.unit_id).order_by(ApiKey.id)
    )
    return [(key, code) for key, code in rows]


async def revoke(session: AsyncSession, key_id: int, now: datetime) -> ApiKey:
    """吊销: the key stops working at once on every node (each request reads its row)."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"接口密钥不存在: {key_id}", code="api_key_not_found")
    if row.active:
        row.active, row.revoked_at = False, now
    return row


async def actor_from_key(
    session: AsyncSession, key: str, now: datetime, auth: AuthSettings
) -> Actor:
    """The API user of an active key, after counting this request in the key's window."""
    row = await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.active.is_(True))
    )
    if row is None:
        raise ApiKeyInvalid("接口密钥无效或已吊销(X-API-Key)")
    window = window_start(now, auth.api_key_window_seconds)
    count = await session.scalar(
        update(ApiKey)
        .where(ApiKey.id == row.id)
        .values(
            window_count=case((ApiKey.window_start == window, ApiKey.window_count + 1), else_=1),
            window_start=window,
        )
        .returning(ApiKey.window_count)
        .execution_options(synchronize_session=False)
    )
    if count > auth.api_key_requests_per_window:
        left = window + timedelta(seconds=auth.api_key_window_seconds) - now
        raise ApiKeyRateLimited(
            f"接口密钥请求过于频繁:每 {auth.api_key_window_seconds:g} 秒最多 "
            f"{auth.api_key_requests_per_window} 次,请稍后再试",
            retry_after=max(1, math.ceil(left.total_seconds())),
        )
    unit = None
    if row.unit_id is not None:
        u = await session.get(Unit, row.unit_id)
        if u is None or not u.active:
            raise ApiKeyInvalid("接口密钥所属单位已停用")
        unit = UnitRef(u.id, u.code, u.name, u.path)
    return Actor(key_username(row), Role.UNIT, unit, api_key_id=row.id)
