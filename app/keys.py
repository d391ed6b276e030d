"""Typed keys for objects shared on the aiohttp application (dependency-free module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey["Settings"]("settings")
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
DISPATCH = web.AppKey["DispatchService"]("dispatch")
ACTOR_RESOLVER = web.AppKey["Callable[[str], Awaitable[Actor]]"]("actor_resolver")
# X-API-Key -> the API user of the key's unit (counted against the key's rate limit).
KEY_RESOLVER = web.AppKey["Callable[[str], Awaitable[Actor]]"]("key_resolver")
# Every API request counted per user / address, shared by the nodes (app/ratelimit.py).
REQUEST_LIMITER = web.AppKey["RequestLimiter"]("request_limiter")
PASSWORDS = web.AppKey["Passwords"]("passwords")
KB = web.AppKey["KnowledgeBase"]("kb")
SUGGESTER = web.AppKey["Suggester"]("suggester")
DUPLICATES = web.AppKey["DuplicateIndex"]("duplicates")
CALLCENTER = web.AppKey["CallCenter"]("callcenter")
OUTBOX = web.AppKey["OutboxSender"]("outbox")
MAILBOX = web.AppKey["Mailbox"]("mailbox")
ROUTES = web.AppKey["list[ApiRoute]"]("routes")
PUSH = web.AppKey["PushHub"]("push")
BUS = web.AppKey["Bus"]("bus")
LEADER = web.AppKey["Leader"]("leader")
