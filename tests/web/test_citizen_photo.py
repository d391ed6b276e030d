"""市民 and 网格员 after a walk (issue 15, inspector and citizen part): a citizen attaches a
photo and the phone's position to a request, sees the unit's reply attachment on the
tracking page, under the hotline's public name; a grid inspector reporting the same problem
twice is warned with the earlier report."""

from __future__ import annotations

import shutil

import aiohttp

from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_citizen_inspector import phone_page
from tests.web.test_proposal import DOCS
from tests.web.test_uploads import PDF, png

CONTENT = "锦绣花园北门路灯坏了一个多月,晚上漆黑一片"
CITIZEN_PHONE = "13912345678"
WHERE = {"latitude": 30.5728, "longitude": 114.2792}


async def test_citizen_photo_location_and_reply_attachments(chromium, base, api, tmp_path):  # noqa: F811
    photo = tmp_path / "路灯.png"
    photo.write_bytes(png(8, 6))
    page = await phone_page(chromium, geolocation=WHERE, permissions=["geolocation"])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base + "/web/citizen")
    header = await page.inner_text("header")
    assert "12345 政务服务便民热线" in header and "工单系统" not in header
    assert "工单系统" not in await page.title()
    await page.fill("#content", CONTENT)
    await page.fill("#caller_phone", CITIZEN_PHONE)
    await page.click("#locate")  # no position until asked
    await page.locator("#position", has_text="已定位").wait_for()
    assert await page.input_value("#latitude") == "30.572800"
    await page.set_input_files("#photos", str(photo))
    await page.screenshot(path=str(SHOTS / "citizen-photo-01.png"), full_page=True)
    shutil.copyfile(SHOTS / "citizen-photo-01.png", DOCS / "web-citizen-photo.png")
    async with page.expect_navigation():
        await page.click("#form-citizen button[type=submit]")
    number = await page.inner_text("#order-number")
    link = await page.get_attribute("#tracking-link", "href")
    order = await api.order(number)
    assert abs(order["latitude"] - WHERE["latitude"]) < 1e-5
    files = await api.call("GET", f"/api/v1/orders/{number}/attachments", "supervisor")
    assert [(f["role"], f["mime"]) for f in files["items"]] == [("citizen", "image/png")]

    # the unit replies with a document; the citizen sees it (and the own photo)
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    data = aiohttp.FormData()
    data.add_field("files", PDF, filename="整改说明.pdf", content_type="application/pdf")
    token = await api.login_once("zjj")
    resp = await api.client.post(
        f"/api/v1/orders/{number}/attachments",
        data=data,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 201, await resp.text()
    await api.act("zjj", number, "reply", text="路灯已更换,恢复照明。")
    await api.act("supervisor", number, "review", approve=True)

    await page.goto(base + link)
    box = await page.inner_text("#public-attachments")
    assert "整改说明.pdf" in box and "承办单位答复附件" in box and "您提交的照片" in box
    assert "工单系统" not in await page.inner_text("header")
    href = await page.locator("#public-attachments a", has_text="整改说明.pdf").get_attribute(
        "href"
    )
    resp = await page.request.get(base + href)
    assert resp.status == 200 and (await resp.body()) == PDF
    # another order's token does not open this file
    assert (await page.request.get(base + href.replace(link, link[:-4] + "AAAA"))).status == 404
    await page.screenshot(path=str(SHOTS / "citizen-photo-02.png"), full_page=True)
    shutil.copyfile(SHOTS / "citizen-photo-02.png", DOCS / "web-citizen-reply-attachments.png")
    assert errors == []


async def test_inspector_is_warned_of_a_duplicate_report(chromium, base, api):  # noqa: F811
    first = (
        await api.register(
            user="inspector", channel="inspector", content=CONTENT, address="锦绣花园北门"
        )
    )["number"]
    insp = Session(chromium, base)
    page = await insp.login("inspector", "/web/inspector")
    assert await page.is_hidden("#duplicate-warning")
    await page.fill("#address", "锦绣花园北门")
    await page.fill("#content", CONTENT)
    warning = page.locator("#duplicate-warning")
    await warning.wait_for(state="visible")
    text = await warning.inner_text()
    assert "疑似重复上报" in text and first in text
    await insp.shot("inspector-duplicate.png")
    shutil.copyfile(SHOTS / "inspector-duplicate.png", DOCS / "web-inspector-duplicate.png")
    await page.fill("#content", "")
    await page.fill("#content", "河道里有死鱼")
    await warning.wait_for(state="hidden")
    assert insp.errors == []
