# ruff: noqa: F811 (the web tests' fixtures are imported and used as parameters)
"""外呼任务 in headless Chromium against the real server with a real SIP intake: the
admin puts a number on the do-not-call list, creates a campaign (a rejected
questionnaire first), uploads a CSV of targets, starts it (with a confirming click),
SIPp answers and presses keys, and the page's results count up without a reload; the
export downloads as XLSX; the number is taken off the list again."""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from openpyxl import load_workbook

from app.factory import create_app
from app.keys import CALLCENTER
from tests.api.conftest import Api, seed
from tests.callcenter.conftest import answer_scenario, start_sipp_uas
from tests.callcenter.test_campaigns import short_prompts
from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.web.test_admin import AdminSession
from tests.web.test_browser import SHOTS, TIMEOUT_MS, base, chromium  # noqa: F401 (fixtures)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONES = ["13800138001", "13800138002", "13800138003", "13800138004"]
BARRED = "13700137000"
RESULTS_TIMEOUT_MS = 60_000


@pytest.fixture
async def web_client(aiohttp_client, sqlite_url, clock, sip_tools, sip_settings, tmp_path):
    settings = make_settings(sqlite_url)
    settings.web.session_key = Fernet.generate_key().decode()
    settings.sip = sip_settings.model_copy(
        update={
            "enabled": True,
            "survey_uri": "sip:{phone}@127.0.0.1:9",  # the SIPp port is set below
            "survey_interval_seconds": 0,
            "campaign_interval_seconds": 0,  # the test drives the dialer
            "survey_ring_seconds": 5,
            "prompts_dir": str(tmp_path / "prompts"),
        }
    )
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    await seed(Api(client))
    return client


async def dial_until_settled(dialer, stop: asyncio.Event) -> None:
    """The leader's dialer loop, by hand (the test's clock stands still)."""
    while not stop.is_set():
        await dialer.run_once()
        await asyncio.sleep(0.2)


async def test_admin_runs_a_campaign_in_the_browser(chromium, base, web_client, tmp_path):
    center = web_client.server.app[CALLCENTER]
    scenario = answer_scenario(tmp_path, "answer12", "12")
    uas, port = await start_sipp_uas(scenario, len(PHONES), tmp_path, timeout=150)
    center.settings.survey_uri = f"sip:{{phone}}@127.0.0.1:{port}"
    admin = AdminSession(chromium, base)
    stop = asyncio.Event()
    dialing = None
    try:
        page = await admin.login_as("admin", ADMIN_PASSWORD, "/web/admin/units")
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: admin.errors.append(str(exc)))

        # 免打扰名单: one number barred before the upload
        await admin.open("/web/admin/do-not-call")
        await page.fill("#form-dnc input[name=phone]", BARRED)
        await page.fill("#form-dnc input[name=reason]", "本人要求不再来电")
        await admin.submit("dnc")
        assert "已加入免打扰名单" in await admin.flash()
        assert BARRED in await page.inner_text("#dnc")

        # a questionnaire with a malformed option is refused, the input kept
        await page.click("nav a:text('外呼任务')")
        await page.fill("#form-campaign input[name=name]", "垃圾分类民意调查")
        questions = page.locator("#questions .question")
        await questions.nth(0).locator("input").fill("您对小区垃圾分类满意吗?")
        await questions.nth(0).locator("textarea").fill("1=满意\n2 不满意")
        await questions.nth(1).locator("input").fill("您是否支持定时定点投放?")
        await questions.nth(1).locator("textarea").fill("1=支持\n2=反对\n三=无所谓")
        await page.fill("#form-campaign input[name=hour_start]", "0")
        await page.fill("#form-campaign input[name=hour_end]", "24")
        await page.fill("#form-campaign input[name=retry_minutes]", "0")
        await page.fill("#form-campaign input[name=pace_per_minute]", "600")
        await page.fill("#form-campaign input[name=max_concurrent]", "2")
        await admin.submit("campaign")
        assert "第2题的选项" in await page.inner_text("#form-error")
        assert await questions.nth(0).locator("input").input_value() == "您对小区垃圾分类满意吗?"
        await questions.nth(1).locator("textarea").fill("1=支持\n2=反对\n3=无所谓")
        await page.click("#add-question")  # a fourth block, left empty: not saved
        assert await questions.count() == 4
        await admin.shot("campaigns-01-new.png")
        await admin.submit("campaign")
        assert "已新建外呼任务" in await admin.flash()
        campaign_id = int(page.url.rsplit("/", 1)[1])
        assert await page.locator("table.answers").count() == 2
        short_prompts(web_client, campaign_id)  # 0.3 s tones: SIPp's keys fit

        # targets from a CSV (the barred number among them)
        upload = tmp_path / "targets.csv"
        rows = ["姓名,电话", *(f"市民{i},{p}" for i, p in enumerate([*PHONES, BARRED])), "x,12"]
        upload.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
        await page.set_input_files("#form-targets-csv input[type=file]", str(upload))
        await admin.submit("targets-csv")
        assert await admin.flash() == "已添加 4 个号码;重复 0 个,格式不正确 1 个,免打扰 1 个"
        assert await page.inner_text("[data-key='targets.pending']") == "4"
        assert await page.inner_text("[data-key='targets.dnc']") == "1"

        # 开始外呼 asks once more; then the dialer calls SIPp
        start = page.locator("#campaign-start")
        await start.click()
        assert "确认开始向 4 个号码外呼" in await start.inner_text()
        async with page.expect_navigation():
            await start.click()
        assert await admin.flash() == "已开始外呼"
        assert await page.inner_text("#campaign-state") == "外呼中"
        dialing = asyncio.create_task(dial_until_settled(center.campaigns, stop))

        # the results count up on the open page (its own polling, no reload)
        await page.wait_for_selector(
            "[data-key='targets.done']:text-is('4')", timeout=RESULTS_TIMEOUT_MS
        )
        done = page.locator("#question-1 [data-key='questions.0.options.0.count']")
        assert await done.inner_text() == "4"
        against = page.locator("#question-2 [data-key='questions.1.options.1.count']")
        assert await against.inner_text() == "4"
        assert await page.inner_text("[data-key='questions.1.answered']") == "4"
        await page.wait_for_selector("#campaign-state:text-is('已完成')", timeout=20_000)
        assert await page.locator("#campaign-pause").count() == 0  # nothing left to pause
        await admin.shot("campaigns-02-results.png")
        for name in ("campaigns-01-new.png", "campaigns-02-results.png"):
            shutil.copyfile(SHOTS / name, DOCS / f"web-{name}")

        await page.click("a:text('← 外呼任务')")
        row = await page.inner_text(f"#campaign-{campaign_id}")
        assert "已完成" in row and "5 / 5" in row  # four answered, one barred
        await page.go_back()

        # export: numbers masked, answers by label
        async with page.expect_download() as download:
            await page.click("#campaign-export")
        sheet = load_workbook(io.BytesIO(Path(await (await download.value).path()).read_bytes()))
        table = list(sheet.active.iter_rows(values_only=True))
        assert table[0][:3] == ("号码", "状态", "呼叫次数") and len(table) == 1 + 5
        answered = [r for r in table[1:] if r[1] == "done"]
        assert len(answered) == 4 and all(r[3:] == ("满意", "反对") for r in answered)
        assert all("****" in r[0] for r in table[1:])

        # off the list again, after a confirming click
        await admin.open("/web/admin/do-not-call")
        remove = page.locator(f"#dnc-{BARRED} button")
        await remove.click()
        async with page.expect_navigation():
            await remove.click()
        assert "已移出免打扰名单" in await admin.flash()
        assert await page.locator("#dnc").count() == 0
        assert admin.errors == []

        out, _ = await asyncio.wait_for(uas.communicate(), 30)
        assert uas.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        stop.set()
        if dialing is not None:
            await dialing
        if uas.returncode is None:
            uas.kill()
            await uas.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(center.campaigns.wait_idle(), 10)
