"""The one module that speaks to Kannel's smsbox (its HTTP sendsms interface)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from config import SmsSettings
from integrations.exceptions import DeliveryFailed


@dataclass(frozen=True)
class KannelClient:
    settings: SmsSettings

    async def send(self, to: str, text: str, sender: str) -> None:
        """Hand one SMS to Kannel as UCS-2 (Chinese); Kannel splits a long one into
        concatenated parts. Anything but a 2xx answer (202 "0: Accepted for delivery",
        "3: Queued for later delivery") is `DeliveryFailed`, so the outbox retries."""
        s = self.settings
        params = {
            "username": s.username,
            "password": s.password,
            "from": sender,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            "coding": "2",
        }
        timeout = aiohttp.ClientTimeout(total=s.timeout_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(s.sendsms_url, params=params, allow_redirects=False) as resp,
            ):
                answer = " ".join((await resp.text(errors="replace")).split())[:200]
                if not 200 <= resp.status < 300:
                    raise DeliveryFailed(f"kannel sendsms: HTTP {resp.status} {answer}".strip())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryFailed(f"kannel sendsms: {type(exc).__name__} {exc}") from exc
