"""首问负责: the agent who registered a case owns it and follows its progress from the
console (issue 17): each order's state, deadline and latest step; the open ones alone."""

from __future__ import annotations

import re

from tests.web.conftest import Browser


def _section(html: str) -> str:
    return html[html.index('id="my-orders"') :]


def _row(section: str, number: str) -> str:
    match = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*?{number}.*?</tr>", section, re.S)
    assert match, f"{number} not listed"
    return match.group(0)


async def test_agent_follows_the_orders_they_registered(browser: Browser, api, web_client):
    handled = (await api.register(content="路灯不亮已经一周了"))["number"]
    await api.act("dispatcher", handled, "dispatch", unit="ZJJ")
    await api.act("zjj", handled, "accept")
    done = (await api.register(type="consultation", content="公积金怎么提取"))["number"]
    await api.act("agent", done, "answer", text="可在网上大厅办理")
    await api.act("supervisor", done, "review", approve=True)
    await api.act("supervisor", done, "callback", satisfaction="satisfied", resolved=True)
    other = (await api.register(user="dispatcher", content="新华路菜市场门口占道经营"))["number"]

    await browser.login("agent")
    section = _section(await (await web_client.get("/web/agent")).text())
    assert other not in section
    assert "办理中 1" in section
    row = _row(section, handled)
    # the state, the unit's deadline and the latest step with its unit
    assert "已签收" in row and "办结时限" in row and "签收 · 市住建局" in row
    row = _row(section, done)
    assert "已办结" in row and "回访" in row

    section = _section(await (await web_client.get("/web/agent?mine=open")).text())
    assert handled in section and done not in section

    # the owner opens the order and sees where it stands
    page = await (await web_client.get(f"/web/orders/{handled}")).text()
    assert "已签收" in page
