"""大屏 (issue 15, supervisor part): the live call centre and today's orders on a wall
screen, refreshed by polling /web/api/wallboard; works with the SIP intake off."""

from __future__ import annotations

import shutil
from datetime import timedelta
from types import SimpleNamespace

from app.keys import CALLCENTER, DISPATCH, SESSIONS
from callcenter import storage
from callcenter.acd import QueueStatus
from callcenter.agents import Agent, AgentState
from tests.conftest import ADMIN_PASSWORD
from tests.web.conftest import CALLER_PHONE
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS
from web.screens import wallboard


async def _calls(web_client, now) -> None:
    """Today: one call answered after 10 s, one abandoned."""
    async with web_client.app[SESSIONS]() as session:
        session.add_all(
            [
                storage.Call(
                    id="c1",
                    hotline="12345",
                    caller=CALLER_PHONE,
                    offered_at=now - timedelta(minutes=5),
                    answered_at=now - timedelta(minutes=5) + timedelta(seconds=10),
                    outcome="answered",
                ),
                storage.Call(
                    id="c2",
                    hotline="12345",
                    caller=CALLER_PHONE,
                    offered_at=now - timedelta(minutes=3),
                    outcome="abandoned",
                ),
                # c2's caller is still to be called back; an earlier one was this morning
                storage.Callback(
                    call_id="c2",
                    hotline="12345",
                    caller=CALLER_PHONE,
                    reason="abandoned",
                    created_at=now - timedelta(minutes=3),
                ),
                storage.Callback(
                    call_id="c1",
                    hotline="12345",
                    caller=CALLER_PHONE,
                    reason="requested",
                    created_at=now - timedelta(minutes=5),
                    state="done",
                    done_at=now - timedelta(minutes=1),
                    done_by="agent",
                ),
            ]
        )
        await session.commit()


async def test_wallboard_with_the_intake_off(chromium, base, api, web_client, clock):  # noqa: F811
    overdue = (await api.register(caller_phone=CALLER_PHONE))["number"]
    await api.act("dispatcher", overdue, "dispatch", unit="ZJJ")
    clock.advance(hours=3)
    await web_client.app[DISPATCH].scan()  # accept time (2 working hours) passed
    await api.register(caller_phone=CALLER_PHONE, channel="web")
    await _calls(web_client, clock())

    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await page.clock.install()  # the page's timers: the poll below comes when told
    await sup.open("/web/wallboard")
    assert await page.inner_text("#wb-overdue") == "1"
    assert await page.inner_text("#wb-intake-total") == "2"
    intake = await page.inner_text("#wb-intake")
    assert len([line for line in intake.splitlines() if line.strip()]) >= 2  # two channels
    assert await page.inner_text("#wb-offered") == "2"
    assert await page.inner_text("#wb-answered") == "1"
    assert await page.inner_text("#wb-abandoned") == "1"
    assert await page.inner_text("#wb-sl") == "50.0%"
    assert await page.inner_text("#wb-callbacks") == "1"  # 回电清单, live
    assert await page.inner_text("#wb-callback-wait") == "3分钟"
    assert await page.inner_text("#wb-callbacks-done") == "1"
    assert "呼叫中心未启用" in await page.inner_text("#wb-callcenter")
    assert await page.is_hidden("#wb-queues")
    size = await page.evaluate(
        "parseFloat(getComputedStyle(document.getElementById('wb-overdue')).fontSize)"
    )
    assert size >= 40  # readable across the room

    # the page polls: a new order shows up without a reload
    await api.register(caller_phone=CALLER_PHONE)
    from playwright.async_api import expect

    await expect(page.locator("#wb-intake-total")).to_have_text("2")  # no poll yet
    await page.clock.run_for(wallboard.REFRESH_SECONDS * 1000)  # one refresh period
    await expect(page.locator("#wb-intake-total")).to_have_text("3", timeout=20_000)
    await sup.shot("wallboard-01.png")
    shutil.copyfile(SHOTS / "wallboard-01.png", DOCS / "web-wallboard.png")
    assert sup.errors == []


async def test_wallboard_json_and_roles(browser, api, web_client):
    await browser.login("supervisor")
    resp = await browser.client.get("/web/api/wallboard")
    assert resp.status == 200
    data = await resp.json()
    assert data["callcenter"] is None and data["calls"]["offered"] == 0
    assert {"overdue", "warned", "intake", "intake_total", "at"} <= set(data)
    assert data["callbacks"] == {"open": 0, "oldest_wait": "—", "done_today": 0}
    await browser.login("admin", ADMIN_PASSWORD)
    assert (await browser.client.get("/web/wallboard")).status == 200
    await browser.login("zjj")
    assert (await browser.client.get("/web/wallboard")).status == 403
    assert (await browser.client.get("/web/api/wallboard")).status == 403


def test_live_queues_and_agents_from_the_call_centre():
    """With the intake on: CallCenter.queues() and the ACD's agents, as /metrics reads them."""
    agents = {
        1: Agent(1, "a1", AgentState.AVAILABLE),
        2: Agent(2, "a2", AgentState.TALKING),
        3: Agent(3, "a3", AgentState.TALKING),
    }
    status = QueueStatus("12345", 4, 75.0, 1, 2, 30.0)
    center = SimpleNamespace(queues=lambda: [status], acd=SimpleNamespace(agents=agents))
    live = wallboard._call_centre({CALLCENTER: center})
    assert live["queues"] == [
        {
            "queue": "12345",
            "waiting": 4,
            "longest_wait_seconds": 75,
            "longest_wait": "1分钟",
            "available": 1,
            "busy": 2,
        }
    ]
    counts = {a["state"]: a["count"] for a in live["agents"]}
    assert counts["available"] == 1 and counts["talking"] == 2 and counts["paused"] == 0
    assert wallboard._call_centre({}) is None
