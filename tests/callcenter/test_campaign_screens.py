# ruff: noqa: F811 (the fixture is imported and used as a parameter)
"""外呼任务 screens without a browser: roles, and bad input answered with a page (4xx)
in Chinese, never a 500; a GBK CSV (Excel's default here) and past callers as targets."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from app.keys import SESSIONS
from callcenter.storage import CampaignTarget
from tests.callcenter.test_campaign_browser import web_client  # noqa: F401 (fixture)
from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tests.web.conftest import Browser

CAMPAIGNS = "/web/admin/campaigns"
FORM = {
    "name": "政策宣传",
    "kind": "outreach",
    "intro": "您好,这里是12345热线。",
    "thanks": "再见。",
    "question": ["您是否了解新的医保政策?", ""],
    "options": ["1=了解\n2=不了解", ""],
    "hour_start": "9",
    "hour_end": "20",
    "attempts": "2",
    "retry_minutes": "10",
    "pace_per_minute": "30",
    "max_concurrent": "5",
}


def form_data(fields: dict, csrf: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            data.add_field(name, one)
    data.add_field("csrf_token", csrf)
    return data


async def post(browser: Browser, path: str, fields: dict, page: str = CAMPAIGNS):
    csrf = await browser.csrf(page)
    return await browser.client.post(path, data=form_data(fields, csrf), allow_redirects=False)


async def test_campaign_screens_roles_and_bad_input(web_client):
    browser = Browser(web_client)
    await browser.login("supervisor", PASSWORD)
    assert (await web_client.get(CAMPAIGNS)).status == 403
    assert (await web_client.get("/web/admin/do-not-call")).status == 403

    await browser.login("admin", ADMIN_PASSWORD)
    page = await web_client.get(CAMPAIGNS)
    assert page.status == 200 and "暂无外呼任务" in await page.text()
    for change, words in (
        ({"hour_start": "20", "hour_end": "9"}, "外呼时段须为"),
        ({"hour_start": "早上"}, "外呼时段"),
        ({"question": ["", ""], "options": ["", ""]}, "问卷"),
        ({"options": ["*=了解", ""]}, "第1题的选项"),
        ({"pace_per_minute": "0"}, "每分钟外呼数"),
        ({"question": ["?", ""], "options": ["1=" + "长" * 30, ""]}, "1-20 字"),
    ):
        resp = await post(browser, CAMPAIGNS, {**FORM, **change})
        assert resp.status == 400, (change, resp.status)
        assert words in await resp.text(), (change, words)
    resp = await post(browser, CAMPAIGNS, FORM)
    assert resp.status == 302
    here = resp.headers["Location"]
    cid = int(here.rsplit("/", 1)[1])

    # targets: a GBK CSV, a typed list, past callers; bad sources redraw with a message
    gbk = "姓名,手机\n张三,13800138000\n李四,13900139000\n".encode("gb18030")
    data = aiohttp.FormData()
    data.add_field("csrf_token", await browser.csrf(here))
    data.add_field("source", "csv")
    data.add_field("file", gbk, filename="名单.csv", content_type="text/csv")
    resp = await web_client.post(f"{here}/targets", data=data, allow_redirects=False)
    assert resp.status == 302
    assert "已添加 2 个号码" in await (await web_client.get(here)).text()
    for fields, status, words in (
        ({"source": "list", "phones": "13700137000,abc 13800138000"}, 302, None),
        ({"source": "csv"}, 400, "请选择要上传的 CSV 文件"),
        ({"source": "nothing"}, 400, "请选择号码来源"),
        ({"source": "callers", "from": "2026-11-01"}, 400, "结束日期"),
        ({"source": "callers", "from": "明天", "to": "2026-12-01"}, 400, "格式不正确"),
        ({"source": "callers", "from": "2026-11-01", "to": "2026-12-01"}, 302, None),
    ):
        resp = await post(browser, f"{here}/targets", fields, page=here)
        assert resp.status == status, (fields, await resp.text())
        if words:
            assert words in await resp.text()
    async with web_client.server.app[SESSIONS]() as session:
        phones = sorted(await session.scalars(select(CampaignTarget.phone)))
    assert phones == ["13700137000", "13800138000", "13900139000"]

    results = await (await web_client.get(f"{here}/results")).json()
    assert results["state"] == "draft" and results["results"]["targets"]["pending"] == 3
    assert (await post(browser, f"{here}/pause", {}, page=here)).status == 302
    assert "草稿,不能暂停" in await (await web_client.get(here)).text()
    assert (await web_client.get(f"{CAMPAIGNS}/{cid + 1}")).status == 404
    assert (await web_client.get(f"{CAMPAIGNS}/{cid + 1}/results")).status == 404

    # do-not-call: a bad number is refused with the form kept; removing an unknown one
    resp = await post(browser, "/web/admin/do-not-call", {"phone": "12x", "reason": "测试"})
    assert resp.status == 400 and "号码格式不正确" in await resp.text()
    resp = await post(browser, "/web/admin/do-not-call/13600136000/delete", {})
    assert resp.status == 302
    assert "不在免打扰名单中" in await (await web_client.get("/web/admin/do-not-call")).text()
