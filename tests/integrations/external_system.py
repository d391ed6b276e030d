"""A hotline's own business system, as a separate process (DESIGN §2 mode `external`).

It receives the centre's webhook, checks the signature (HMAC-SHA256 of the raw body with
the shared secret), ignores an event id it has seen (a retry or a replay), and answers
through the centre's normal API with its unit-bound key: accept, then reply.

    python external_system.py --port P --secret S --api http://127.0.0.1:Q --key hk_...

Prints `ready` when listening; GET /log answers what it received and did. Written with
aiohttp only, as a partner would, without the centre's code.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json

from aiohttp import ClientSession, web

REPLY = "已核查:商户已退还多收费用并整改,价格公示已更新。"


def _signed(secret: str, raw: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


class System:
    def __init__(self, secret: str, api: str, key: str) -> None:
        self.secret, self.api, self.key = secret, api.rstrip("/"), key
        self.seen: set[str] = set()
        self.log: list[dict] = []
        self.tasks: set[asyncio.Task] = set()

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not _signed(self.secret, raw, request.headers.get("X-Hotline-Signature")):
            self.log.append({"refused": "signature"})
            return web.json_response({"error": "bad signature"}, status=401)
        body = json.loads(raw)
        event_id = request.headers.get("X-Hotline-Event-Id")
        if event_id != body.get("id") or event_id in self.seen:
            self.log.append({"duplicate": event_id})
            return web.json_response({"duplicate": True})
        self.seen.add(event_id)
        self.log.append({"event": body["event"], "id": event_id, "order": body["order"]["number"]})
        if body["event"] == "order.dispatched":
            task = asyncio.create_task(self.handle(body["order"]["number"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return web.json_response({"received": event_id}, status=202)

    async def handle(self, number: str) -> None:
        headers = {"X-API-Key": self.key}
        async with ClientSession(headers=headers) as http:
            for action, payload in (("accept", {}), ("reply", {"text": REPLY})):
                url = f"{self.api}/api/v1/orders/{number}/actions/{action}"
                async with http.post(url, json=payload) as resp:
                    answer = await resp.json()
                    self.log.append(
                        {"action": action, "status": resp.status, "state": answer.get("state")}
                    )

    async def show_log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    system = System(args.secret, args.api, args.key)
    app = web.Application()
    app.router.add_post("/hook", system.hook)
    app.router.add_get("/log", system.show_log)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
