"""Use cases of accounts: log in, resolve a token to an actor, create users and keys."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.domain import ROLE_LABELS, UNIT_ROLES, Actor, Role, UnitRef
from accounts.exceptions import (
    AccountInvalid,
    BadCredentials,
    TokenInvalid,
    UsernameTaken,
    WrongPassword,
)
from accounts.passwords import Passwords
from accounts.policy import MIN_LENGTH, password_problem
from accounts.storage import ApiToken, User
from dispatch.storage import Hotline, Unit

LOGIN_ROLES = [r for r in Role if r not in (Role.SYSTEM, Role.CITIZEN)]
MIN_PASSWORD_LENGTH = MIN_LENGTH


def check_password(password: str, username: str) -> None:
    """The password policy (accounts/policy.py) for every password a person chooses."""
    if problem := password_problem(password, username):
        raise AccountInvalid(problem, code="weak_password")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _unit_ref(session: AsyncSession, unit_id: int | None) -> UnitRef | None:
    if unit_id is None:
        return None
    unit = await session.get(Unit, unit_id)
    return UnitRef(unit.id, unit.code, unit.name, unit.path)


async def actor_for(session: AsyncSession, user: User) -> Actor:
    return Actor(
        user.username,
        Role(user.role),
        await _unit_ref(session, user.unit_id),
        frozenset(user.hotlines or ()),
        must_change_password=user.must_change_password,
    )


async def login(
    session: AsyncSession,
    passwords: Passwords,
    username: str,
    password: str,
    now: datetime,
    ttl_hours: float,
) -> tuple[str, Actor]:
    """Check the password and issue a bearer token; the token itself is never stored."""
    user = await session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user else None
    # The KDF is deliberately slow: keep it off the event loop.
    if not await asyncio.to_thread(passwords.verify, stored, password):
        raise BadCredentials("用户名或密码错误")
    if not user.active:
        raise BadCredentials("用户名或密码错误")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(passwords.hash, password)
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=ttl_hours),
        )
    )
    return token, await actor_for(session, user)


async def actor_from_token(session: AsyncSession, token: str, now: datetime) -> Actor:
    row = await session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == _digest(token),
            ApiToken.revoked.is_(False),
            ApiToken.expires_at > now,
            User.active.is_(True),
        )
    )
    if row is None:
        raise TokenInvalid("登录已失效,请重新登录")
    return await actor_for(session, row)


async def revoke_token(session: AsyncSession, token: str) -> None:
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is not None:
        row.revoked = True


async def create_user(
    session: AsyncSession,
    passwords: Passwords,
    username: str,
    password: str,
    role: str,
    unit: str | None = None,
    hotlines: list[str] | None = None,
    display_name: str = "",
    email: str | None = None,
    must_change_password: bool = True,
) -> User:
    """新增用户. The password is the admin's choice, so by default the user must change it
    at the first login; the bootstrap admin and the demo accounts are created without."""
    if role not in LOGIN_ROLES:
        raise AccountInvalid(f"未知角色: {role}", code="unknown_role")
    check_password(password, username)
    if await session.scalar(select(User.id).where(User.username == username)):
        raise UsernameTaken(f"用户名已存在: {username}")
    unit_id, hotlines = await _scope(session, role, unit, hotlines)
    user = User(
        username=username,
        password_hash=await asyncio.to_thread(passwords.hash, password),
        role=role,
        unit_id=unit_id,
        hotlines=hotlines,
        display_name=display_name or username,
        email=email,
        must_change_password=must_change_password,
    )
    session.add(user)
    await session.flush()
    return user


async def _scope(
    session: AsyncSession, role: str, unit: str | None, hotlines: list[str] | None
) -> tuple[int | None, list[str]]:
    """A user's unit id and sub-platform hotlines, checked against the organisation."""
    if role not in LOGIN_ROLES:
        raise AccountInvalid(f"未知角色: {role}", code="unknown_role")
    unit_id = None
    if role in UNIT_ROLES and not unit:
        raise AccountInvalid(f"{ROLE_LABELS[Role(role)]}必须指定所属单位", code="unit_required")
    if unit:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit))
        if unit_id is None:
            raise AccountInvalid(f"未知单位: {unit}", code="unknown_unit")
    hotlines = list(dict.fromkeys(hotlines or []))
    known = set(await session.scalars(select(Hotline.number).where(Hotline.number.in_(hotlines))))
    if missing := [h for h in hotlines if h not in known]:
        raise AccountInvalid(f"未知热线: {', '.join(missing)}", code="unknown_hotline")
    return unit_id, hotlines


async def ensure_admin(session: AsyncSession, passwords: Passwords, password: str) -> bool:
    """First start: with no user at all and a password given, create `admin`."""
    if not password or await session.scalar(select(func.count(User.id))):
        return False
    await create_user(
        session,
        passwords,
        "admin",
        password,
        Role.ADMIN,
        display_name="系统管理员",
        must_change_password=False,  # the operator chose it (HOTLINE_ADMIN_PASSWORD)
    )
    return True


async def _user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountInvalid(f"未知用户: {username}", code="unknown_user")
    return user


async def _revoke_all(session: AsyncSession, user_id: int) -> None:
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))
    )
    for token in tokens:
        token.revoked = True


async def reset_password(
    session: AsyncSession, passwords: Passwords, username: str, password: str
) -> None:
    """重置密码 by an admin; the user's open sessions end and the user must choose a new
    password at the next login."""
    check_password(password, username)
    user = await _user(session, username)
    user.password_hash = await asyncio.to_thread(passwords.hash, password)
    user.must_change_password = True
    await _revoke_all(session, user.id)


async def change_password(
    session: AsyncSession,
    passwords: Passwords,
    username: str,
    old: str,
    new: str,
    keep_token: str | None = None,
) -> None:
    """修改密码 by the user: the old password proves it is them; the new one follows the
    policy and differs from the old. Every other session of the user ends."""
    user = await _user(session, username)
    if not await asyncio.to_thread(passwords.verify, user.password_hash, old):
        raise WrongPassword("原密码不正确")
    if new == old:
        raise AccountInvalid("新密码不能与原密码相同", code="weak_password")
    check_password(new, username)
    user.password_hash = await asyncio.to_thread(passwords.hash, new)
    user.must_change_password = False
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    )
    kept = _digest(keep_token) if keep_token else None
    for token in tokens:
        token.revoked = token.revoked or token.token_hash != kept


async def set_user_active(session: AsyncSession, username: str, active: bool, by: Actor) -> None:
    """停用 / 启用 a user; users are never deleted (their names stay in order logs)."""
    if not active and username == by.username:
        raise AccountInvalid("不能停用当前登录的账号", code="self_deactivation")
    user = await _user(session, username)
    user.active = active
    if not active:
        await _revoke_all(session, user.id)


async def _profile(session: AsyncSession, user: User) -> dict[str, object]:
    unit = await session.scalar(select(Unit.code).where(Unit.id == user.unit_id))
    return {
        "role": user.role,
        "unit": unit,
        "hotlines": list(user.hotlines or []),
        "display_name": user.display_name,
        "email": user.email,
    }


async def update_user(
    session: AsyncSession,
    username: str,
    role: str,
    unit: str | None,
    hotlines: list[str] | None,
    display_name: str,
    email: str | None,
    by: Actor,
) -> dict[str, list[object]]:
    """修改用户: role, unit, sub-platform hotlines, name, e-mail (the next request sees them:
    every request resolves its token to the user again). Answers what changed,
    {field: [before, after]}, for the audit trail."""
    user = await _user(session, username)
    if username == by.username and role != user.role:
        raise AccountInvalid("不能修改当前登录账号的角色", code="self_role_change")
    before = await _profile(session, user)
    user.unit_id, user.hotlines = await _scope(session, role, unit, hotlines)
    user.role = role
    user.display_name = display_name or username
    user.email = email
    after = await _profile(session, user)
    return {k: [before[k], after[k]] for k in before if before[k] != after[k]}
