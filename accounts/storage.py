"""Tables of accounts: users, API tokens and partner API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(60), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Sub-platform managers: the hotline numbers they are limited to (empty: no limit).
    hotlines: Mapped[list[str]] = mapped_column(JSON, default=list)
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by an admin (new user, reset): the user must choose a password before anything.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class LoginFailure(Base):
    """Consecutive failed logins of one username (known or not), in the database every
    node shares: the back-off and lockout of accounts/lockout.py read and write it."""

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    """A key for partner systems and Open311 clients (hashed like tokens).

    Bound to a unit, the key acts as an API user of that unit (its orders only); without
    one it is good for Open311 only. `window_start`/`window_count` are the key's
    fixed-window request counter, in the database every node shares (accounts/apikeys.py).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    revoked_at: Mapped[datetime | None]
    window_start: Mapped[datetime | None]
    window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
