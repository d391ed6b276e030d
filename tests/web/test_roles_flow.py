"""Role flows in headless Chromium (issue 5): the 12350 sub-platform and the unit ranking.

A sub-platform manager (`subplatform` hotline, DESIGN §2) works with the dispatcher and
supervisor screens but sees only the orders of their hotline, and a 404 page for any
other; the supervisor's 单位排名 shows exactly what `GET /api/v1/stats/ranking` answers.
Screenshots: test-output/screenshots/4*.png (docs/screenshots/web-ranking.png is 43).
"""

from __future__ import annotations

from app.keys import DISPATCH
from tests.api.conftest import Api, add_user
from tests.stats import scenario
from tests.web.conftest import CALLER_PHONE, build_app, seed_web
from tests.web.test_browser import PHONE, Session, base, chromium  # noqa: F401

SCOPE = "12350安全生产举报热线 分平台"
WEEK = "from=2026-11-24&to=2026-11-30"


def _score(value: float | None) -> str:
    """As the ranking page prints a score (百分制, one decimal)."""
    return "—" if value is None else f"{value * 100:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


async def _orders(api) -> tuple[str, str]:
    """One order on 12345 and one on the 12350 sub-platform, both replied by 住建局."""
    central = (await api.register(caller_phone=CALLER_PHONE))["number"]
    safety = (
        await api.register(
            "aq_dispatcher",
            hotline="12350",
            content="某工地脚手架无防护网,工人高空作业未系安全带",
            address="东湖区湖滨街道建设路工地",
        )
    )["number"]
    return central, safety


async def test_the_sub_platform_manager_sees_only_12350(chromium, base, api):  # noqa: F811
    central, safety = await _orders(api)
    await add_user(api, username="aq_sup", role="supervisor", hotlines=["12350"])

    # 分平台派单员: the queue holds the 12350 order only, the scope is shown
    manager = Session(chromium, base)
    page = await manager.login("aq_dispatcher", "/web/dispatch")
    assert await page.inner_text("#scope") == SCOPE
    queue = await page.inner_text("main")
    assert safety in queue and central not in queue
    await manager.shot("40-subplatform-dispatch.png")
    # search: another hotline's order is not found, not even by its number
    await manager.open(f"/web/orders?q={central}")
    assert "共 0 件" in await page.inner_text("main")
    await manager.open("/web/orders")
    listed = await page.inner_text("main")
    assert safety in listed and central not in listed
    # and opening it is the same 404 page as an unknown number
    await manager.open(f"/web/orders/{central}")
    assert "页面不存在" in await page.inner_text("main")
    await manager.shot("41-subplatform-404.png")
    # its own order is dispatched through the screen
    await manager.open(f"/web/orders/{safety}")
    await page.select_option("#form-dispatch select[name=unit]", "ZJJ")
    await manager.submit("dispatch")
    assert "派单成功" in await manager.flash()

    # both orders replied by the same unit
    await api.act("dispatcher", central, "dispatch", unit="ZJJ")
    for number in (central, safety):
        await api.act("zjj", number, "accept")
        await api.act("zjj", number, "reply", text="已现场处理完毕。")

    # 分平台督办员: only the 12350 reply waits for review
    supervisor = Session(chromium, base)
    page = await supervisor.login("aq_sup", "/web/supervise")
    assert await page.inner_text("#scope") == SCOPE
    board = await page.inner_text("main")
    assert safety in board and central not in board
    await supervisor.shot("42-subplatform-supervise.png")
    await page.click(f"a:text('{safety}')")
    await supervisor.submit("review")
    assert "审核成功" in await supervisor.flash()
    await supervisor.open(f"/web/orders/{central}")
    assert "页面不存在" in await page.inner_text("main")
    # the centre's supervisor is not scoped: no label, both orders
    centre = Session(chromium, base)
    page = await centre.login("supervisor", "/web/supervise")
    assert await page.locator("#scope").count() == 0
    assert central in await page.inner_text("main")


async def test_the_ranking_page_matches_the_api(chromium, base, api, clock):  # noqa: F811
    await scenario.build(api, clock)
    expected = await api.call("GET", f"/api/v1/stats/ranking?{WEEK}", "supervisor")
    assert any(r["delta"] is not None for r in expected["rows"])  # a trend to show

    supervisor = Session(chromium, base)
    page = await supervisor.login("supervisor", "/web/supervise")
    await page.click("nav a:text('单位排名')")
    assert "单位排名" in await page.inner_text("h1")
    await supervisor.open(f"/web/supervise/ranking?{WEEK}")
    rows = page.locator("#ranking tbody tr")
    assert await rows.count() == len(expected["rows"])
    for i, want in enumerate(expected["rows"]):
        row = rows.nth(i)
        assert await row.get_attribute("data-unit") == want["key"]
        assert await row.locator(".rank").inner_text() == str(want["rank"] or "—")
        assert await row.locator(".unit").inner_text() == want["name"]
        assert await row.locator(".orders").inner_text() == str(want["orders"])
        for rate in ("ontime_accept_rate", "resolution_rate", "satisfaction_rate"):
            assert await row.locator(f".{rate}").inner_text() == _pct(want[rate])
        assert await row.locator(".score").inner_text() == _score(want["three_rate_score"])
        assert await row.locator(".previous").inner_text() == _score(want["previous_score"])
        delta = "—" if want["delta"] is None else f"{want['delta'] * 100:+.1f}"
        assert await row.locator(".delta").inner_text() == delta
        change = want["rank_change"]
        moved = {None: "—", 0: "持平"}.get(change) or (
            f"↑{change}" if change > 0 else f"↓{-change}"
        )
        assert await row.locator(".rank-change").inner_text() == moved
    await supervisor.shot("43-ranking.png")
    phone = Session(chromium, base, viewport=PHONE)
    small = await phone.login("supervisor", "/web/supervise")
    await phone.open(f"/web/supervise/ranking?{WEEK}")
    assert await small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.shot("45-phone-ranking.png")

    # a wrong period is a Chinese message on the page, not an error page
    await supervisor.open("/web/supervise/ranking?from=2026-11-30&to=2026-11-01")
    assert "to 必须晚于 from" in await page.inner_text("#form-error")


async def test_the_ranking_is_scoped_like_the_api(web_client, browser, api):
    """Without a browser: the sub-platform supervisor's ranking counts 12350 orders only."""
    central, safety = await _orders(api)
    await add_user(api, username="aq_sup", role="supervisor", hotlines=["12350"])
    await api.act("dispatcher", central, "dispatch", unit="CGJ")
    await api.act("aq_dispatcher", safety, "dispatch", unit="ZJJ")
    await api.act("zjj", safety, "accept")
    scoped = await api.call("GET", "/api/v1/stats/ranking?from=2026-11-01&to=2026-12-01", "aq_sup")
    assert [r["key"] for r in scoped["rows"]] == ["ZJJ"]
    await browser.login("aq_sup")
    html = await (await web_client.get("/web/supervise/ranking")).text()
    assert 'data-unit="ZJJ"' in html and 'data-unit="CGJ"' not in html
    assert "2026-11-01 至 2026-11-24" in html  # this month so far by default
    for query in ("from=tomorrow&to=2026-12-01", "from=2020-01-01&to=2026-12-01"):
        resp = await web_client.get(f"/web/supervise/ranking?{query}")
        assert resp.status == 400 and 'id="form-error"' in await resp.text()
    await browser.login("zjj")
    assert (await web_client.get("/web/supervise/ranking")).status == 403


async def test_the_agent_registers_with_the_suggestions_and_it_is_dispatched(
    chromium,  # noqa: F811
    aiohttp_client,
    sqlite_url,
    clock,
    category_model,
):
    """智能派单 on: the agent's registration, typed with the live suggestions showing, is
    dispatched to the suggested category's unit and lands in that unit's inbox."""
    client = await aiohttp_client(build_app(sqlite_url, clock, category_model, auto_dispatch=0.5))
    await seed_web(Api(client))
    url = str(client.make_url("")).rstrip("/")
    agent = Session(chromium, url)
    page = await agent.login("agent", "/web/agent")
    await page.fill("#caller_phone", CALLER_PHONE)
    await page.fill("#content", "小区物业不管楼道垃圾,物业公司不作为")
    await page.locator("#category-list li:has-text('城乡建设')").wait_for()
    await page.select_option("#type", "complaint")
    await agent.shot("44-agent-auto-dispatch.png")
    async with page.expect_navigation():
        await page.click("#btn-register")
    flash = await agent.flash()
    assert "已登记,并已智能派单" in flash
    # Close the console now: its live connection would otherwise hold the server's
    # shutdown (this test's own app) until the browser goes at the very end.
    await page.context.close()
    number = flash.split("工单 ")[1].split(" ")[0]
    order = await Api(client).order(number)
    assert (order["state"], order["lead_unit"], order["category"]) == ("dispatched", "ZJJ", "CJ")

    unit = Session(chromium, url)
    page = await unit.login("zjj", "/web/unit")
    assert "剩余" in await page.inner_text(f"tr:has(a:text('{number}')) .due")


async def test_the_supervisor_board_lists_alarmed_orders_once_red_first(
    web_client, browser, api, clock
):
    """The five alarm flags come from one query; red (overdue) before amber (warning)."""
    # the red one is the older: newest-first alone would list it second
    late = (await api.register(urgency="urgent"))["number"]
    warned = (await api.register())["number"]
    quiet = (await api.register())["number"]
    for number in (warned, late):
        await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    clock.advance(minutes=96)  # 80 % of 2 working hours; the urgent 30 minutes are gone
    await web_client.app[DISPATCH].scan()
    flags = {n: set((await api.order(n))["flags"]) for n in (warned, late)}
    assert "accept_warning" in flags[warned] and "accept_overdue" in flags[late]
    await browser.login("supervisor")
    html = await (await web_client.get("/web/supervise")).text()
    section = html[html.index("超期 / 预警") : html.index("待审核答复")]
    assert section.count(f">{late}</a>") == 1 and section.count(f">{warned}</a>") == 1
    assert section.index(late) < section.index(warned)
    assert quiet not in section
