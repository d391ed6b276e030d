"""Attachments: type by magic bytes, size and count limits, storage outside the web root,
and serving only within the order's scope — over real HTTP on the real app."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from app.keys import SETTINGS
from tests.api.conftest import Api
from tests.conftest import FakeClock
from tests.web.conftest import Browser, build_app, seed_web
from web import uploads

MAX_BYTES = 64 * 1024  # the tests' per-file limit, so "too large" stays cheap


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 20, 30)) -> bytes:
    """A real, decodable PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 200  # a Windows program, whatever its name says


def ooxml(folder: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<doc/>")
    return out.getvalue()


def same_image(data: bytes, original: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(original)) as b:
        return a.format == b.format and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


@pytest.fixture
async def web_client(
    aiohttp_client, sqlite_url: str, clock: FakeClock, category_model: Path, tmp_path: Path
) -> TestClient:
    app = build_app(sqlite_url, clock, category_model)
    app[SETTINGS].web.upload_dir = str(tmp_path / "uploads")
    app[SETTINGS].web.upload_max_bytes = MAX_BYTES
    client = await aiohttp_client(app)
    await seed_web(Api(client))
    return client


def stored_files(client: TestClient) -> list[Path]:
    root = client.app[SETTINGS].web.upload_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def accepted_order(api: Api, unit: str = "ZJJ", user: str = "zjj") -> str:
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    await api.act(user, number, "accept")
    return number


# ---------------------------------------------------------------- the type check


@pytest.mark.parametrize(
    ("data", "name", "mime"),
    [
        (png(), "x.png", "image/png"),
        (png(), "renamed.pdf", "image/png"),  # the content decides, not the name
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "photo.jpg", "image/jpeg"),
        (b"GIF89a\x01\x00", "a.gif", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "a.webp", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "IMG_0001.HEIC", "image/heic"),
        (PDF, "a.pdf", "application/pdf"),
        (ooxml("word/"), "a.docx", uploads.DOCX),
        (ooxml("xl/"), "a.xlsx", uploads.XLSX),
        (ooxml("ppt/"), "a.pptx", uploads.PPTX),
        (uploads.OLE2 + b"\x00" * 50, "old.doc", "application/msword"),
        (uploads.OLE2 + b"\x00" * 50, "old.XLS", "application/vnd.ms-excel"),
        (uploads.OLE2 + b"\x00" * 50, "old.msi", None),  # an installer is OLE2 too
        (EXE, "photo.jpg", None),
        (b"<html><script>alert(1)</script>", "a.png", None),
        (ooxml("other/"), "a.docx", None),
        (b"PK\x03\x04not really a zip", "a.docx", None),
        (b"plain text", "a.txt", None),
    ],
)
def test_types_are_told_by_content(data, name, mime):
    assert uploads.sniff(data, name) == mime


def test_names_lose_paths_and_control_characters():
    assert uploads.clean_name("C:\\Users\\a\\现场 照片.jpg") == "现场 照片.jpg"
    assert uploads.clean_name('../../etc/pass"wd\r\n') == "passwd"
    assert uploads.clean_name("") == "附件"


# ---------------------------------------------------------------- API


def form(*files: tuple[str, bytes]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, content in files:
        data.add_field("files", content, filename=name, content_type="image/jpeg")
    return data


async def post_files(api: Api, user: str, number: str, *files, expect: int) -> dict:
    await api.login(user)
    resp = await api.client.post(
        f"/api/v1/orders/{number}/attachments",
        data=form(*files),
        headers={"Authorization": f"Bearer {api.tokens[user]}"},
    )
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def test_api_upload_list_and_scope(api, web_client, browser: Browser):
    number = await accepted_order(api)
    body = await post_files(api, "zjj", number, ("现场.png", png()), ("说明.pdf", PDF), expect=201)
    assert [(i["name"], i["mime"]) for i in body["items"]] == [
        ("现场.png", "image/png"),
        ("说明.pdf", "application/pdf"),
    ]
    listed = await api.call("GET", f"/api/v1/orders/{number}/attachments", "supervisor")
    assert listed["total"] == 2 and listed["items"][0]["by"] == "zjj"
    # the bytes are on disk under the upload directory, named by id, not under web/static
    files = stored_files(web_client)
    assert [p.name for p in files] == sorted(i["id"] for i in listed["items"])
    # images are stored re-encoded (no metadata): the same pixels, other bytes
    assert all(p.read_bytes() == PDF or same_image(p.read_bytes(), png()) for p in files)
    # another unit: the order, its list and its files do not exist
    await api.call("GET", f"/api/v1/orders/{number}/attachments", "cgj", expect=404)
    await post_files(api, "cgj", number, ("x.png", png()), expect=404)

    by_name = {i["name"]: i for i in listed["items"]}
    image_url = by_name["现场.png"]["url"]
    await browser.login("cgj")
    resp = await web_client.get(image_url, allow_redirects=False)
    assert resp.status == 404 and "页面不存在" in await resp.text()
    await browser.login("zjj")
    resp = await web_client.get(image_url)
    assert resp.status == 200 and same_image(await resp.read(), png())
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA.png" in resp.headers["Content-Disposition"]
    resp = await web_client.get(by_name["说明.pdf"]["url"])
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    # logged out: to the login page
    web_client.session.cookie_jar.clear()
    resp = await web_client.get(image_url, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")


async def test_api_refuses_wrong_type_size_and_count_and_stores_nothing(api, web_client):
    number = await accepted_order(api)
    body = await post_files(api, "zjj", number, ("ok.png", png()), ("photo.jpg", EXE), expect=400)
    assert body["error"]["code"] == "upload_rejected"
    assert "photo.jpg" in body["error"]["message"] and "类型不支持" in body["error"]["message"]
    body = await post_files(api, "zjj", number, ("big.png", png() + b"\0" * MAX_BYTES), expect=413)
    assert "超过大小上限" in body["error"]["message"]
    web_client.app[SETTINGS].web.upload_max_files_per_request = 2
    body = await post_files(api, "zjj", number, *[("a.png", png())] * 3, expect=400)
    assert "每次最多上传 2 个文件" in body["error"]["message"]
    assert stored_files(web_client) == []
    web_client.app[SETTINGS].web.upload_max_files_per_order = 3
    await post_files(api, "zjj", number, ("a.png", png()), ("b.png", png()), expect=201)
    body = await post_files(api, "zjj", number, ("c.png", png()), ("d.png", png()), expect=400)
    assert "附件已达上限" in body["error"]["message"]
    assert len(stored_files(web_client)) == 2
    # JSON instead of multipart is a clear 400, not a 500
    body = await api.call(
        "POST", f"/api/v1/orders/{number}/attachments", "zjj", {"files": []}, expect=400
    )
    assert "multipart" in body["error"]["message"]


async def test_web_reply_with_files_binds_them_to_the_reply_event(api, web_client, browser):
    number = await accepted_order(api)
    await browser.login("zjj")
    token = await browser.csrf(f"/web/orders/{number}")
    data = aiohttp.FormData()
    data.add_field("csrf_token", token)
    data.add_field("text", "已处理,见现场照片")
    data.add_field("files", png(), filename="after.png", content_type="image/png")
    resp = await web_client.post(f"/web/orders/{number}/reply", data=data, allow_redirects=False)
    assert resp.status == 302
    page = await (await web_client.get(f"/web/orders/{number}")).text()
    assert "附件 1 个" in page and "after.png" in page
    assert re.search(r'<img src="/web/files/[0-9a-f]{32}"', page)
    order = await api.order(number)
    assert order["state"] == "replied"
    listed = await api.call("GET", f"/api/v1/orders/{number}/attachments", "zjj")
    reply_event = listed["items"][0]["event_id"]
    assert reply_event is not None


async def test_a_form_without_csrf_token_uploads_nothing(api, web_client, browser):
    number = await accepted_order(api)
    await browser.login("zjj")
    data = aiohttp.FormData()
    data.add_field("text", "答复")
    data.add_field("files", png(), filename="after.png", content_type="image/png")
    resp = await web_client.post(f"/web/orders/{number}/reply", data=data)
    assert resp.status == 403 and "CSRF" in await resp.text()
    assert stored_files(web_client) == []
    assert (await api.order(number))["state"] == "accepted"


async def test_only_logged_in_users_get_the_larger_body_limit(api, web_client, browser):
    number = await accepted_order(api)
    big = png() + b"\0" * (1024 * 1024)  # over the app's 1 MB JSON limit
    token = await browser.csrf("/login")  # an anonymous session with a CSRF token
    data = aiohttp.FormData()
    data.add_field("csrf_token", token)
    data.add_field("text", "答复")
    data.add_field("files", io.BytesIO(big), filename="big.png", content_type="image/png")
    resp = await web_client.post(f"/web/orders/{number}/reply", data=data)
    assert resp.status == 413 and "内容过大" in await resp.text()
    assert stored_files(web_client) == []
