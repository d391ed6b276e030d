"""Findings of the outside security probe (issue #16) on the web pages: no 500, no
traceback in the log, a Chinese message instead."""

from __future__ import annotations

import io
import logging
import zipfile

import aiohttp
import pytest
from PIL import ExifTags, Image

from app.factory import create_app
from config import WebSettings, load_settings
from tests.conftest import ADMIN_PASSWORD, INITIAL_PASSWORD, PASSWORD, make_settings
from tests.web.conftest import Browser
from web import uploads


def _no_traceback(caplog) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize(
    ("user", "page", "path"),
    [
        (None, "/login", "/login"),
        (None, "/web/citizen", "/web/citizen/track"),
        ("agent", "/web/agent", "/web/agent/register"),
    ],
)
async def test_a_form_that_is_not_utf8_is_a_400_page(browser: Browser, caplog, user, page, path):
    if user:
        await browser.login(user)
    token = await browser.csrf(page)
    resp = await browser.client.post(
        path,
        data=f"csrf_token={token}&a=\xff".encode("latin-1"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 400
    assert "编码" in await resp.text()
    _no_traceback(caplog)


async def test_a_huge_page_number_on_the_order_search(browser: Browser, caplog):
    await browser.login("supervisor")
    resp = await browser.client.get("/web/orders?page=200000000000000000")
    assert resp.status in (200, 400)
    _no_traceback(caplog)


async def test_a_web_405_carries_allow(browser: Browser):
    resp = await browser.client.put("/login")
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert "请求方式" in await resp.text()


async def test_a_reset_password_is_changed_at_the_next_web_login(browser: Browser, caplog):
    await browser.login("admin", ADMIN_PASSWORD)
    page = "/web/admin/users"
    resp = await browser.post(f"{page}/agent/password", {"password": INITIAL_PASSWORD}, page)
    assert resp.status == 302
    resp = await browser.login("agent", INITIAL_PASSWORD)
    assert resp.headers["Location"] == "/web/password"
    for path in ("/web/agent", "/web/orders"):
        resp = await browser.client.get(path, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (302, "/web/password")
    resp = await browser.client.get("/web/api/suggest?content=x")
    assert resp.status == 403
    form = {"old": INITIAL_PASSWORD, "new": "Password1234", "confirm": "Password1234"}
    resp = await browser.post("/web/password", form, "/web/password")
    assert resp.status == 400 and "常见" in await resp.text()
    form = {"old": INITIAL_PASSWORD, "new": PASSWORD, "confirm": PASSWORD}
    resp = await browser.post("/web/password", form, "/web/password")
    assert (resp.status, resp.headers["Location"]) == (302, "/web/agent")
    assert (await browser.client.get("/web/agent", allow_redirects=False)).status == 200
    _no_traceback(caplog)


async def test_the_session_cookie_is_https_only_by_default(aiohttp_client, sqlite_url, clock):
    assert load_settings(environ={}).web.cookie_secure is True
    assert load_settings(environ={"HOTLINE_COOKIE_SECURE": "false"}).web.cookie_secure is False
    settings = make_settings(sqlite_url)
    settings.web.cookie_secure = True  # what production gets from config/default.toml
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    resp = await client.get("/login")
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_the_agent_socket_refuses_a_foreign_origin(browser: Browser):
    await browser.login("agent")
    client = browser.client
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/web/ws/agent", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    own = f"http://{client.host}:{client.port}"
    async with client.ws_connect("/web/ws/agent", headers={"Origin": own}) as ws:
        assert not ws.closed


def _office(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_an_office_zip_that_inflates_too_far_is_refused():
    settings = WebSettings(upload_max_unzipped_bytes=1024 * 1024)
    bomb = _office({"word/document.xml": b"\x00" * (8 * 1024 * 1024)})
    assert len(bomb) < 20_000  # a few KB on the wire
    with pytest.raises(uploads.UploadRejected):
        uploads.check("bomb.docx", bomb, settings)
    many = _office({f"xl/sheet{i}.xml": b"<r/>" * 100_000 for i in range(5)})
    with pytest.raises(uploads.UploadRejected):
        uploads.check("many.xlsx", many, settings)
    fine = _office({"word/document.xml": b"<doc>" + b"x" * 1000 + b"</doc>"})
    assert uploads.check("fine.docx", fine, settings).mime == uploads.DOCX


def test_photos_lose_their_exif_and_gps_but_stay_upright():
    photo = Image.new("RGB", (8, 4), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = 6  # taken sideways
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (31.0, 14.0, 5.0)
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif, comment=b"secret note")
    assert b"PhoneMaker" in out.getvalue()
    stored = uploads.check("现场.jpg", out.getvalue(), WebSettings()).data
    assert b"PhoneMaker" not in stored and b"Exif" not in stored and b"secret" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif() and image.size == (4, 8)


def test_a_gif_html_polyglot_is_neutralised():
    out = io.BytesIO()
    Image.new("P", (4, 4), 1).save(out, "GIF", comment=b"<script>alert(1)</script>")
    polyglot = out.getvalue() + b"<html><script>alert(document.cookie)</script></html>"
    stored = uploads.check("x.gif", polyglot, WebSettings()).data
    assert stored.startswith(b"GIF8") and b"<script" not in stored.lower()
    with pytest.raises(uploads.UploadRejected):
        uploads.check("x.gif", b"GIF89a<html><script>alert(1)</script>", WebSettings())
