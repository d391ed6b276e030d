"""Stand-ins for partner systems: a webhook endpoint and an SMTP server whose answers
the test scripts (refuse first, accept later)."""

from __future__ import annotations

import json
import socket
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from integrations.webhooks.domain import signature_valid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Delivery:
    event_id: str
    event: str
    signature_ok: bool
    body: dict


@dataclass
class WebhookReceiver:
    """Answers each POST with the next scripted status (200 once the script is used up)."""

    secret: str
    statuses: deque[int] = field(default_factory=deque)
    deliveries: list[Delivery] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # event ids answered 2xx

    def __post_init__(self) -> None:
        self.statuses = deque(self.statuses)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ok = signature_valid(self.secret, raw, request.headers.get("X-Hotline-Signature"))
        event_id = request.headers.get("X-Hotline-Event-Id", "")
        body = json.loads(raw)
        self.deliveries.append(Delivery(event_id, body["event"], ok, body))
        status = self.statuses.popleft() if self.statuses else 200
        if 200 <= status < 300:
            self.accepted.append(event_id)
        return web.Response(status=status, text="refused" if status >= 300 else "ok")


class ScriptedSmtp:
    """aiosmtpd handler: the next scripted SMTP reply to DATA, then 250."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = deque(replies)
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        reply = self.replies.popleft() if self.replies else "250 OK"
        if reply.startswith("250"):
            self.received.append(envelope.content)
        return reply
