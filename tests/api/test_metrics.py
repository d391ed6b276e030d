"""GET /metrics: Prometheus text with the event-loop lag and per-route request times."""

from __future__ import annotations

import re


async def test_metrics_expose_loop_lag_and_request_times(api):
    await api.register()
    resp = await api.client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    body = await resp.text()
    lag = re.search(r"^hotline_event_loop_lag_seconds_count (\d+\.\d+)$", body, re.M)
    assert lag and float(lag.group(1)) > 0
    assert re.search(
        r'^hotline_http_request_seconds_count\{method="POST",route="/api/v1/orders",'
        r'status="201"\} 1\.0$',
        body,
        re.M,
    )


async def test_metrics_report_orders_flags_and_outbox_from_the_readers(api):
    from app.metrics import METRICS, read_all

    first = await api.register()
    await api.register()
    await api.act("dispatcher", first["number"], "dispatch", unit="ZJJ")
    await read_all(api.client.app[METRICS])  # the background refresh, without waiting for it
    body = await (await api.client.get("/metrics")).text()
    assert re.search(r'^hotline_orders\{state="registered"\} 1\.0$', body, re.M)
    assert re.search(r'^hotline_orders\{state="dispatched"\} 1\.0$', body, re.M)


async def test_metrics_answer_only_the_scrapers_networks(aiohttp_client, sqlite_url):
    from ipaddress import ip_network

    from app.factory import create_app
    from tests.conftest import make_settings

    settings = make_settings(sqlite_url)
    settings.server.metrics_networks = [ip_network("10.0.0.0/8")]
    client = await aiohttp_client(create_app(settings, scanner=False))
    resp = await client.get("/metrics")  # from 127.0.0.1, not the scraper's network
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
