"""The unit's inbox and the supervision board show the most urgent orders first, cut in
SQL: an order overdue since last month is on top however many newer orders there are."""

from __future__ import annotations

import pytest

from app.keys import DISPATCH
from web.screens import queues


@pytest.fixture
def small_queues(monkeypatch):
    monkeypatch.setattr(queues, "QUEUE_SIZE", 3)


async def _accepted(api, **fields) -> str:
    number = (await api.register(**fields))["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    return number


async def test_an_old_overdue_order_heads_the_unit_inbox(
    web_client, browser, api, clock, small_queues
):
    old = await _accepted(api, type="consultation")
    clock.advance(days=30)
    await web_client.app[DISPATCH].scan()
    newer = []
    for _ in range(4):  # more than the screen shows
        newer.append(await _accepted(api, type="complaint"))
        clock.advance(minutes=10)

    await browser.login("zjj")
    html = await (await web_client.get("/web/unit")).text()
    section = html[html.index('id="pane-progress"') : html.index('id="pane-returned"')]
    shown = [n for n in (old, *newer) if f">{n}</a>" in section]
    assert shown == [old, *newer[:2]]
    assert section.index(old) < section.index(newer[0]) < section.index(newer[1])
    assert '<span class="count">5</span>' in section  # the total, not the rows shown
    assert "已超期" in section[: section.index(newer[0])]
