"""Server push to signed-in users: one hub per node, any number of listeners per user.

A package publishes plain JSON-able dicts for a user (`publish(user_id, event)`); a
WebSocket handler (web/) subscribes for the signed-in user and relays what arrives. A
listener that falls `QUEUE_SIZE` events behind loses the oldest ones, never blocks the
publisher. In a cluster the user's WebSocket may be open on another node: with a bus
(app/bus.py) every event also goes to the other nodes' hubs (topic `push`), so a screen
pop reaches the agent whichever node took the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.bus import Bus

log = logging.getLogger(__name__)

QUEUE_SIZE = 100


TOPIC = "push"


class PushHub:
    def __init__(self) -> None:
        self._listeners: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self.bus: Bus | None = None

    def connect(self, bus: Bus) -> None:
        """Events published on other nodes reach this node's listeners, and back."""
        self.bus = bus
        bus.subscribe(TOPIC, self._from_other_node)

    def _from_other_node(self, data: dict[str, Any]) -> None:
        if "user_id" in data:  # not a resync: pushes missed meanwhile are not replayed
            self.deliver(int(data["user_id"]), data["event"])

    def publish(self, user_id: int, event: dict[str, Any]) -> int:
        """Queue `event` for every listener of `user_id`, on this node and (with a bus)
        on the others; returns how many on this node got it."""
        if self.bus is not None:
            self.bus.publish_soon(TOPIC, {"user_id": user_id, "event": event})
        return self.deliver(user_id, event)

    def deliver(self, user_id: int, event: dict[str, Any]) -> int:
        """Queue `event` for this node's listeners of `user_id`."""
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
