"""Server push to signed-in users: one in-process hub, any number of listeners per user.

A package publishes plain JSON-able dicts for a user (`publish(user_id, event)`); a
WebSocket handler (web/) subscribes for the signed-in user and relays what arrives. A
listener that falls `QUEUE_SIZE` events behind loses the oldest ones, never blocks the
publisher. One process only: a second node needs a broker (the scale issue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 100


class PushHub:
    def __init__(self) -> None:
        self._listeners: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def publish(self, user_id: int, event: dict[str, Any]) -> int:
        """Queue `event` for every listener of `user_id`; returns how many got it."""
        listeners = self._listeners.get(user_id, ())
        for queue in listeners:
            if queue.full():
                queue.get_nowait()
                log.warning("push listener of user %d is behind: oldest event dropped", user_id)
            queue.put_nowait(event)
        return len(listeners)

    def listening(self, user_id: int) -> bool:
        return bool(self._listeners.get(user_id))

    @contextlib.contextmanager
    def subscribe(self, user_id: int) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._listeners[user_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[user_id].discard(queue)
            if not self._listeners[user_id]:
                del self._listeners[user_id]
