"""Who a bearer token stands for, remembered for a few seconds.

Every API request resolves its token; under load that lookup (a query joining users and
tokens, and the user's unit) was a good part of each request's database work. The
answer is kept for `[auth] token_cache_seconds`. Any committed change to a user or a
token (revocation, password change, role or scope change, deactivation, a new login)
empties the caches of this process at once; another node learns of it within the same
few seconds at most, when its entry expires.

In a cluster the other nodes hear of it too (topic `actors` on app/bus.py) and empty
theirs within milliseconds.

Other facts about users kept per process use the same cache under keys of their own
(the recipients of notifications, dispatch/notifications.py).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from accounts.domain import Actor
from accounts.storage import ApiToken, User
from app.bus import announce
from app.db import on_commit_of

MAX_ENTRIES = 100_000  # tokens remembered at most; beyond, the cache starts afresh

_CACHES: weakref.WeakSet[ActorCache] = weakref.WeakSet()


class ActorCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        _CACHES.add(self)

    def get(self, key: Hashable) -> Actor | Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Hashable, value: Actor | Any) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.seconds, value)

    def clear(self) -> None:
        self._entries.clear()


def clear_all_caches() -> None:
    for cache in list(_CACHES):
        cache.clear()


def _changed() -> None:
    clear_all_caches()
    announce("actors")


on_commit_of((User, ApiToken), _changed)
