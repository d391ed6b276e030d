"""质检 in the browser: a supervisor plays a sampled recording and scores it; the agent
sees the result; the agent ranking shows the score (issue 17, quality part)."""

from __future__ import annotations

import shutil
from datetime import timedelta

from tests.conftest import MONDAY_10AM
from tests.quality.conftest import add_calls
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS

SCORES = {"opening": 5, "listening": 4, "policy": 5, "order_info": 5, "attitude": 5, "closing": 5}


async def _sampled(api, tmp_path) -> list[dict]:
    calls = [("c1", "agent", MONDAY_10AM), ("c2", "agent", MONDAY_10AM + timedelta(hours=2))]
    await add_calls(api, tmp_path, calls)
    await api.call("POST", "/api/v1/quality/samples", "supervisor", {"week": "2026-W48"})
    return (await api.call("GET", "/api/v1/quality/reviews", "supervisor"))["items"]


async def test_supervisor_scores_a_review_in_the_browser(
    chromium,  # noqa: F811
    base,  # noqa: F811
    api,
    tmp_path,
):
    items = await _sampled(api, tmp_path)
    review = items[0]
    supervisor = Session(chromium, base)
    page = await supervisor.login("supervisor", "/web/supervise")
    await page.click("nav a:text('质检')")
    assert await page.locator("#qa-reviews tbody tr").count() == 2
    await page.click(f"tr[data-review='{review['id']}'] a.open-review")
    assert await page.inner_text("#qa-agent") == "agent"

    # the recording plays from the page's own door, and the listening is audited
    src = await page.get_attribute("#qa-audio", "src")
    assert src == f"/web/calls/{review['call']}/recording"
    status = await page.evaluate(
        "async (src) => { const r = await fetch(src);"
        " return [r.status, r.headers.get('content-type')]; }",
        src,
    )
    assert status == [200, "audio/wav"]
    duration = await page.evaluate(
        "() => new Promise((ok) => { const a = document.querySelector('#qa-audio');"
        " a.addEventListener('loadedmetadata', () => ok(a.duration)); a.load(); })"
    )
    assert abs(duration - 0.5) < 0.05  # Chromium decoded the WAV
    audit = await api.call("GET", "/api/v1/audit?type=recording.listen", "admin")
    assert {e["object"] for e in audit["items"]} == {review["call"]}
    assert all(e["subject"] == "supervisor" for e in audit["items"])

    # a missing item is refused at the form; then the full checklist
    for key, value in SCORES.items():
        await page.check(f"#item-{key} input[value='{value}']")
    await page.fill("#qa-form textarea[name=comment]", "倾听时打断市民一次,其余规范")
    await supervisor.shot("quality-01-review.png")
    shutil.copyfile(SHOTS / "quality-01-review.png", DOCS / "web-quality-review.png")
    async with page.expect_navigation():
        await page.click("#qa-submit")
    assert "已评分" in await supervisor.flash()
    # listening 4/5 with weight 20 of 100: 96
    assert await page.inner_text("#qa-total") == "96"
    assert await page.locator("#qa-form").count() == 0
    scored = await api.call("GET", f"/api/v1/quality/reviews/{review['id']}", "supervisor")
    assert scored["scores"] == SCORES and scored["reviewer"] == "supervisor"

    # the ranking of the week has the agent at 96 (one review)
    await supervisor.open("/web/quality?week=2026-W48&state=all")
    row = page.locator("#qa-ranking tr[data-agent='agent']")
    assert "96.0" in await row.inner_text()
    await supervisor.shot("quality-02-list.png")
    shutil.copyfile(SHOTS / "quality-02-list.png", DOCS / "web-quality-list.png")

    # the agent sees the scored review only, read-only
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    await page.click("nav a:text('我的质检')")
    assert await page.locator("#qa-reviews tbody tr").count() == 1
    await page.click("a.open-review")
    assert "倾听时打断市民一次" in await page.inner_text("#qa-form-card")
    assert await page.locator("#qa-form").count() == 0
    assert supervisor.errors == [] and agent.errors == []


async def test_score_form_errors_and_roles(browser, api, tmp_path):
    """Without a browser: a form missing an item is 400 with the message; an agent
    cannot open the pending review or post a score; a unit user gets 403."""
    items = await _sampled(api, tmp_path)
    review = items[0]
    await browser.login("supervisor")
    path = f"/web/quality/{review['id']}"
    partial = {f"score_{k}": str(v) for k, v in SCORES.items() if k != "closing"}
    resp = await browser.post(path, partial, page=path)
    assert resp.status == 400 and "请为“结束语规范”选择" in await resp.text()
    resp = await browser.post(path, {f"score_{k}": "9" for k in SCORES}, page=path)
    assert resp.status == 400

    await browser.login("agent")
    resp = await browser.client.get(path)
    assert resp.status == 404
    resp = await browser.post(
        path, {f"score_{k}": str(v) for k, v in SCORES.items()}, "/web/quality"
    )
    assert resp.status == 403
    await browser.login("zjj")
    resp = await browser.client.get("/web/quality")
    assert resp.status == 403
