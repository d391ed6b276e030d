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
