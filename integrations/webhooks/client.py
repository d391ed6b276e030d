"""The one module that speaks HTTP to partners' webhook endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from integrations.exceptions import DeliveryFailed
from integrations.webhooks.domain import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    signature,
)

USER_AGENT = "hotline-webhooks/1"


@dataclass(frozen=True)
class WebhookClient:
    timeout_seconds: float

    async def post(self, url: str, raw: bytes, secret: str, event: str, event_id: str) -> None:
        """POST one signed delivery; anything but a 2xx answer is `DeliveryFailed`.
        Redirects are not followed: a partner moves its endpoint by telling the admin."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event,
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: signature(secret, raw),
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, data=raw, headers=headers, allow_redirects=False) as resp,
            ):
                if not 200 <= resp.status < 300:
                    text = " ".join((await resp.text(errors="replace")).split())[:200]
                    raise DeliveryFailed(f"webhook {url}: HTTP {resp.status} {text}".strip())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryFailed(f"webhook {url}: {type(exc).__name__} {exc}") from exc
