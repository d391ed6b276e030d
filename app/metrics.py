"""Prometheus metrics of one node: `GET /metrics` in the text exposition format.

Each app has its own registry (tests build many apps in one process). Packages add
their gauges and counters to `app[METRICS].registry`; this module owns the two that
every request and the event loop feed:

- `hotline_event_loop_lag_seconds`: how late a timer that should fire every
  `LAG_INTERVAL` seconds actually fires. Anything that blocks the loop (CPU-bound model
  work, a synchronous call) shows up here before it shows up as a slow request.
- `hotline_http_request_seconds`: server time per request, by route and status.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

LAG_INTERVAL = 0.01
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.loop_lag = Histogram(
            "hotline_event_loop_lag_seconds",
            "Delay of a periodic timer on the event loop",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "hotline_http_request_seconds",
            "Server time of HTTP requests",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )


METRICS = web.AppKey("metrics", Metrics)


async def watch_loop_lag(metrics: Metrics, interval: float = LAG_INTERVAL) -> None:
    loop = asyncio.get_running_loop()
    while True:
        expected = loop.time() + interval
        await asyncio.sleep(interval)
        metrics.loop_lag.observe(max(0.0, loop.time() - expected))


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(watch_loop_lag(app[METRICS]), name="loop-lag")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@web.middleware
async def timing_middleware(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[METRICS].request_seconds.labels(name, request.method, str(status)).observe(
            time.perf_counter() - started
        )


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_metrics(app: web.Application) -> None:
    app[METRICS] = Metrics()
    app.middlewares.append(timing_middleware)
    app.cleanup_ctx.append(metrics_ctx)
    app.router.add_get("/metrics", metrics_view)
