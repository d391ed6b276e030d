"""Maps, 位置 → 地址 and the citizen pages in English, in Chromium (issues 15 and 17): the
map of our own grid with a marker from the phone's position on the inspector's and the
citizen's forms and on the order page, the address prefilled from our gazetteer, the
duplicate warning reached through it, tiles that fail falling back to the grid, and the
citizen pages read and used in English."""

from __future__ import annotations

import shutil

from app.keys import SETTINGS
from tests.conftest import PASSWORD
from tests.web.test_browser import PHONE, SHOTS, TIMEOUT_MS, base, chromium  # noqa: F401
from tests.web.test_citizen_inspector import replied_and_reviewed
from tests.web.test_geo import CELL_ADDRESS, HERE, NEAR, load_grid
from tests.web.test_proposal import DOCS

CONTENT = "锦绣花园北门路灯坏了一个多月,晚上漆黑一片"
WHERE = {"latitude": HERE["lat"], "longitude": HERE["lng"]}


async def page_at(browser, where=WHERE, locale="zh-CN"):
    """A phone at `where` that allows the page to locate it; page errors collected."""
    ctx = await browser.new_context(
        viewport=PHONE, locale=locale, geolocation=where, permissions=["geolocation"]
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    page = await ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


async def login(page, base, username, home):  # noqa: F811
    await page.goto(base + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]:has-text('登录')")
    await page.wait_for_url(base + home)


async def map_ready(page) -> None:
    await page.locator("#map[data-ready='1']").wait_for(state="attached")


async def shot(page, name: str, doc: str | None = None) -> None:
    await page.screenshot(path=str(SHOTS / name), full_page=True)
    if doc:
        shutil.copyfile(SHOTS / name, DOCS / doc)


async def test_inspector_map_address_and_duplicate_warning(chromium, base, api, web_client):  # noqa: F811
    await load_grid(web_client)
    first = await api.register(
        user="inspector", channel="inspector", content=CONTENT, address="锦绣花园北门", **NEAR
    )
    page = await page_at(chromium)
    await login(page, base, "inspector", "/web/inspector")
    await map_ready(page)
    # the marker at the phone's position, on the grid drawn from our data (no tiles)
    marker = page.locator("#map path.report-marker")
    await marker.wait_for()
    assert await page.get_attribute("#map", "data-marker") == "30.572800,114.279200"
    assert int(await page.get_attribute("#map", "data-features")) == 17  # 16 cells, 1 address
    assert "map-offline" in await page.get_attribute("#map", "class")
    # the address of the earlier report a few metres away, prefilled
    await page.locator("#address-note", has_text="已根据位置填写地址").wait_for()
    assert await page.input_value("#address") == "锦绣花园北门"
    # the same problem again: the warning names the earlier report
    await page.fill("#content", CONTENT)
    warning = page.locator("#duplicate-warning")
    await warning.wait_for(state="visible")
    assert first["number"] in await warning.inner_text()
    await shot(page, "inspector-map.png", "web-inspector-map.png")

    # a typed address is never overwritten by a new position
    await page.fill("#address", "锦绣花园南门岗亭")
    await page.click("#locate")
    await page.locator("#position", has_text="已定位").wait_for()
    await page.wait_for_timeout(300)
    assert await page.input_value("#address") == "锦绣花园南门岗亭"

    # a tile server that cannot be reached: the map falls back to our grid
    web_client.server.app[SETTINGS].web.map_tiles_url = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    try:
        await page.reload()
        await map_ready(page)
        await page.locator("#map-status", has_text="底图无法加载").wait_for()
        assert "map-offline" in await page.get_attribute("#map", "class")
        assert await page.locator("#map path.report-marker").count() == 1
    finally:
        web_client.server.app[SETTINGS].web.map_tiles_url = ""
    assert page.errors == []


async def test_citizen_map_pick_and_order_page_map(chromium, base, api, web_client):  # noqa: F811
    from playwright.async_api import expect

    await load_grid(web_client)
    # an earlier report nearby: its address is not shown to an anonymous citizen
    await api.register(user="inspector", channel="inspector", address="锦绣花园北门", **NEAR)
    page = await page_at(chromium)
    await page.goto(base + "/web/citizen")
    await map_ready(page)
    assert await page.locator("#map path.report-marker").count() == 0  # not located yet
    await page.click("#locate")
    await page.locator("#map path.report-marker").wait_for()
    await page.locator("#address-note", has_text="已根据位置填写地址").wait_for()
    assert await page.input_value("#address") == CELL_ADDRESS
    # a click on the map moves the position to another cell: the address follows
    box = await page.locator("#map").bounding_box()
    await page.locator("#map").click(position={"x": box["width"] - 12, "y": box["height"] / 2})
    await expect(page.locator("#address")).not_to_have_value(CELL_ADDRESS)
    lat, lng = await page.input_value("#latitude"), await page.input_value("#longitude")
    assert abs(float(lat) - HERE["lat"]) < 0.02 and float(lng) > HERE["lng"]
    assert await page.get_attribute("#map", "data-marker") == f"{lat},{lng}"
    picked = await page.input_value("#address")
    assert "社区网格" in picked
    await page.fill("#content", "小区门口下水道堵塞,污水漫到路面")
    await page.fill("#caller_phone", "13912345678")
    await shot(page, "citizen-map.png", "web-citizen-map.png")
    async with page.expect_navigation():
        await page.click("#form-citizen button[type=submit]")
    number = await page.inner_text("#order-number")
    order = await api.order(number)
    assert order["address"] == picked and abs(order["latitude"] - float(lat)) < 1e-5
    assert page.errors == []

    # the order page: the map with the reported position
    staff = await page_at(chromium)
    await login(staff, base, "dispatcher", "/web/dispatch")
    await staff.goto(f"{base}/web/orders/{number}")
    await map_ready(staff)
    await staff.locator("#map path.report-marker").wait_for()
    assert await staff.get_attribute("#map", "data-marker") == f"{lat},{lng}"
    await shot(staff, "order-map.png", "web-order-map.png")
    assert staff.errors == []


async def test_citizen_pages_in_english(chromium, base, api):  # noqa: F811
    page = await page_at(chromium, locale="en-US")  # Accept-Language: en-US
    await page.goto(base + "/web/citizen")
    assert await page.get_attribute("html", "lang") == "en"
    header = await page.inner_text("header")
    assert "12345 Government Service Hotline" in header and "热线" not in header
    assert "Government Service Hotline" in await page.title()
    assert await page.inner_text("#submit h2") == "Submit a request"
    assert "Complaint" in await page.inner_text("#type")
    # the switch, remembered across pages
    async with page.expect_navigation():
        await page.click("#lang-zh")
    assert await page.inner_text("#submit h2") == "提交诉求"
    await page.reload()
    assert await page.get_attribute("html", "lang") == "zh-CN"
    async with page.expect_navigation():
        await page.click("#lang-en")
    assert await page.inner_text("#submit h2") == "Submit a request"

    await page.fill("#content", "The street light at the north gate has been broken for a month")
    await page.fill("#caller_phone", "13912345678")
    await page.click("#locate")
    await page.locator("#position", has_text="Located: ").wait_for()
    await shot(page, "citizen-english-01.png", "web-citizen-english.png")
    async with page.expect_navigation():
        await page.click("#form-citizen button[type=submit]")
    assert "Request submitted" in await page.inner_text("main")
    number = await page.inner_text("#order-number")
    async with page.expect_navigation():
        await page.click("#tracking-link")
    assert await page.inner_text("#public-state") == "Received, waiting to be assigned"
    assert "Your request was received" in await page.inner_text("#public-history")

    await replied_and_reviewed(api, number)
    await page.reload()
    assert await page.inner_text("#public-state") == "Answered; please rate the answer"
    history = await page.inner_text("#public-history")
    assert "Passed to " in history and "The answer was approved" in history
    assert "Please rate the answer" in await page.inner_text("#rate")
    await page.check("#rate input[name=rating][value=satisfied]")
    await page.check("#rate input[name=resolved][value='1']")
    await shot(page, "citizen-english-02.png", "web-citizen-english-track.png")
    async with page.expect_navigation():
        await page.click("#form-rate button[type=submit]")
    assert "Thank you for your rating!" in await page.inner_text(".flash")
    assert "Your rating: Satisfied" in await page.inner_text("#public-history")
    assert page.errors == []


async def test_without_leaflet_the_forms_still_work(
    chromium,  # noqa: F811
    aiohttp_client,
    sqlite_url,
    clock,
    category_model,
):
    """No libjs-leaflet on the machine: no map, a note, the position still taken."""
    from cryptography.fernet import Fernet

    from app.factory import create_app
    from tests.conftest import make_settings

    settings = make_settings(sqlite_url)
    settings.web.leaflet_dir = str(sqlite_url.rsplit("/", 1)[0]) + "/no-leaflet"
    settings.web.session_key = Fernet.generate_key().decode()
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    assert (await client.get("/web/static/leaflet/leaflet.js")).status == 404
    html = await (await client.get("/web/citizen")).text()
    assert "data-map" in html and "leaflet" not in html
    page = await page_at(chromium)
    await page.goto(str(client.make_url("/web/citizen")))
    await page.locator("#map-status", has_text="地图组件未安装").wait_for()
    await page.click("#locate")
    await page.locator("#position", has_text="已定位").wait_for()
    assert await page.input_value("#latitude") == "30.572800"
    assert page.errors == []
