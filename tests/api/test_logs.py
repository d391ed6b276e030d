"""Structured logs: every response carries a request id, and a JSON log line written
while the request is handled names it (issue 12, operations)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from app.logs import REQUEST_ID_HEADER, JsonFormatter, RequestIdFilter, request_id_middleware


async def test_every_response_carries_a_request_id(api):
    resp = await api.client.get("/healthz", headers={REQUEST_ID_HEADER: "lb-7f3a"})
    assert resp.headers[REQUEST_ID_HEADER] == "lb-7f3a"  # the balancer's id is kept
    made = (await api.client.get("/healthz")).headers[REQUEST_ID_HEADER]
    assert len(made) == 16 and made != "lb-7f3a"
    hostile = await api.client.get("/healthz", headers={REQUEST_ID_HEADER: "x\u00e9" * 40})
    assert len(hostile.headers[REQUEST_ID_HEADER]) == 16  # not taken over from outside
    missing = await api.client.get("/api/v1/orders/nope", headers={REQUEST_ID_HEADER: "r-404"})
    assert missing.status == 401 and missing.headers[REQUEST_ID_HEADER] == "r-404"


async def test_json_log_lines_name_the_node_and_the_request(aiohttp_client, caplog):
    log = logging.getLogger("tests.logs")

    async def handler(request: web.Request) -> web.Response:
        log.warning("答复超时 %s", request.match_info["n"])
        return web.json_response({})

    app = web.Application(middlewares=[request_id_middleware])
    app.router.add_get("/{n}", handler)
    client = await aiohttp_client(app)
    caplog.handler.addFilter(RequestIdFilter())
    await client.get("/7", headers={REQUEST_ID_HEADER: "req-7"})
    log.warning("outside any request")
    formatter = JsonFormatter("node-a")
    inside, outside = (json.loads(formatter.format(r)) for r in caplog.records)
    assert inside["node"] == "node-a" and inside["request_id"] == "req-7"
    assert inside["msg"] == "答复超时 7" and inside["level"] == "WARNING"
    assert "request_id" not in outside
