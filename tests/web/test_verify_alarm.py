"""差评核实 alarm in the browser (issue 15, supervisor part): the deadline scanner raises the
1-working-day 核实 clock like the other deadlines; the supervisor is told in the top bar
and the order carries the red 核实超时 badge until verified."""

from __future__ import annotations

import shutil

from app.keys import DISPATCH
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS
from tests.web.test_supervisor_screens import _rated_badly


async def test_an_unverified_bad_rating_raises_an_alarm(chromium, base, api, clock):  # noqa: F811
    number = await _rated_badly(api)
    service = api.client.app[DISPATCH]
    clock.at = service.policy.calendar.add_working_seconds(
        clock.at, 1.1 * service.policy.calendar.day_seconds
    )
    assert (number, "verify_overdue") in await service.scan()

    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    assert "核实超时" in await page.inner_text("#verify-list")
    await page.click("#notices summary")
    notices = await page.inner_text("#notice-list")
    assert number in notices and "超过核实时限" in notices
    await sup.shot("verify-01-alarm.png")
    shutil.copyfile(SHOTS / "verify-01-alarm.png", DOCS / "web-supervisor-verify-alarm.png")
    await sup.open(f"/web/orders/{number}")
    assert "核实超时" in await page.inner_text("h1")
    assert "差评核实超时" in await page.inner_text("#events")
    await page.check("#form-verify input[name=valid][value='0']")
    await page.fill("#form-verify textarea[name=note]", "经核实诉求超出职责范围")
    button = page.locator("#form-verify button[type=submit]")
    await button.click()
    async with page.expect_navigation():
        await button.click()
    assert "核实超时" not in await page.inner_text("h1")
    assert sup.errors == []
