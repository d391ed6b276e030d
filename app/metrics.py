"""Prometheus metrics of one node: `GET /metrics` in the text exposition format.

Each app has its own registry (tests build many apps in one process). Packages report
what they own through *readers* (`app[METRICS].readers`): async functions returning
`Sample`s, run every `REFRESH_SECONDS` in the background and served from the last
reading, so a scrape never waits for the database. This module owns the two series
that every request and the event loop feed:

- `hotline_event_loop_lag_seconds`: how late a timer that should fire every
  `LAG_INTERVAL` seconds actually fires. Anything that blocks the loop (CPU-bound model
  work, a synchronous call) shows up here before it shows up as a slow request.
- `hotline_http_request_seconds`: server time per request, by route and status.

With `[server] workers` > 1 the processes of one machine keep these two in files of a
shared directory (prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, set
by run.py before anything imports prometheus_client), and every process answers a
scrape with the sum over all of them: a scrape lands on whichever process the connection
was dealt to, and per-process counters would go up and down between scrapes (Prometheus
reads a drop as a restart). The readers' gauges are the answering process's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from app.http import error_response, parse_ip
from app.keys import SETTINGS

log = logging.getLogger(__name__)

LAG_INTERVAL = 0.01
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REFRESH_SECONDS = 15.0
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name for it


@dataclass(frozen=True)
class Sample:
    """One value of a gauge: `hotline_<name>{labels} value`."""

    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


Reader = Callable[[], Awaitable[list[Sample]]]


class _Readings(Collector):
    """Serves the samples of the last reading as gauge families."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for sample in self.samples:
            family = families.get(sample.name)
            if family is None:
                family = GaugeMetricFamily(
                    f"hotline_{sample.name}", sample.help, labels=[k for k, _ in sample.labels]
                )
                families[sample.name] = family
            family.add_metric([v for _, v in sample.labels], sample.value)
        yield from families.values()


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    readers: list[Reader] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.readings = _Readings()
        self.registry.register(self.readings)
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


async def read_all(metrics: Metrics) -> None:
    samples: list[Sample] = []
    for reader in metrics.readers:
        try:
            samples += await reader()
        except SQLAlchemyError:  # a scrape shows the others; the log says which failed
            log.exception("metrics reader %s failed", getattr(reader, "__qualname__", reader))
    metrics.readings.samples = samples


async def _refresh(metrics: Metrics, interval: float) -> None:
    while True:
        await read_all(metrics)
        await asyncio.sleep(interval)


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    tasks = [
        asyncio.create_task(watch_loop_lag(metrics), name="loop-lag"),
        asyncio.create_task(_refresh(metrics, REFRESH_SECONDS), name="metrics-readers"),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
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
    """Counts only, no personal data; still only for the scraper's networks."""
    peer = parse_ip(request.remote or "")
    allowed = request.app[SETTINGS].server.metrics_networks
    if peer is None or not any(peer in network for network in allowed):
        return error_response(403, "forbidden", "无权读取运行指标")
    metrics = request.app[METRICS]
    registry = metrics.registry
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(metrics.readings)
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_metrics(app: web.Application) -> None:
    """The registry, the request timer and the route; `metrics_ctx` goes in the app's
    cleanup contexts after the parts whose readers it runs."""
    app[METRICS] = Metrics()
    app.middlewares.append(timing_middleware)
    app.router.add_get("/metrics", metrics_view)
