"""Our own gazetteer (dispatch/geo.py): grid cells, 位置 → 地址 through the API and the
pages' endpoint, the map's GeoJSON, and the citizen pages' language (web/i18n.py)."""

from __future__ import annotations

import json

import pytest

from app.errors import InvalidInput
from app.keys import SESSIONS
from dispatch import geo
from tests.api.conftest import Api
from tests.web.conftest import build_app, seed_web
from web import i18n

# In the demo grid's cell G22 (东湖区湖滨街道锦绣社区网格)
HERE = {"lat": 30.5728, "lng": 114.2792}
NEAR = {"latitude": 30.57285, "longitude": 114.27925}  # about 7 m away
CELL_ADDRESS = "东湖区湖滨街道锦绣社区网格"


async def load_grid(web_client) -> None:
    async with web_client.server.app[SESSIONS]() as session:
        assert await geo.load_demo_cells(session) == 16
        assert await geo.load_demo_cells(session) == 0  # kept when there is one


def test_point_in_polygon_and_distance():
    square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    assert geo.contains(square, 0.5, 0.5)
    assert not geo.contains(square, 1.5, 0.5)
    triangle = [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]
    assert geo.contains(triangle, 0.5, 0.5) and not geo.contains(triangle, 1.5, 1.5)
    assert geo.distance_m(30.0, 114.0, 30.0, 114.0) == 0
    assert 110_000 < geo.distance_m(30.0, 114.0, 31.0, 114.0) < 112_000


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "Feature"},
        {"type": "FeatureCollection", "features": [{"properties": {"code": "A"}}]},
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "properties": {"code": "A", "name": "甲"},
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                }
            ],
        },
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "properties": {"code": "A", "name": "甲"},
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [0, 1]]]},
                }
            ],
        },
    ],
)
def test_malformed_grid_files_are_refused(doc):
    with pytest.raises(InvalidInput):
        geo.cells_from_geojson(doc)


def test_the_demo_grid_is_valid():
    cells = geo.cells_from_geojson(json.loads(geo.DEMO_CELLS.read_text(encoding="utf-8")))
    assert len({c.code for c in cells}) == len({c.label for c in cells}) == 16


@pytest.fixture
async def any_client(aiohttp_client, any_db_url, clock, category_model):
    """The web app on SQLite and on PostgreSQL (the look-ups are SQL on both)."""
    client = await aiohttp_client(build_app(any_db_url, clock, category_model))
    await seed_web(Api(client))
    return client


async def test_reverse_geocoding_through_the_api(any_client):
    web_client, api = any_client, Api(any_client)
    assert (await api.call("GET", "/api/v1/geo/reverse?lat=30.5728&lng=114.2792", "agent")) == {
        "address": None,
        "source": None,
        "distance_m": None,
        "cell": None,
    }
    await load_grid(web_client)
    url = "/api/v1/geo/reverse?lat={lat}&lng={lng}".format(**HERE)
    answer = await api.call("GET", url, "agent")
    assert answer["address"] == CELL_ADDRESS and answer["source"] == "cell"
    assert answer["cell"]["code"] == "G22"

    # an earlier report a few metres away names the place better
    order = await api.register(
        user="inspector", channel="inspector", address="锦绣花园北门", **NEAR
    )
    answer = await api.call("GET", url, "agent")
    assert answer["address"] == "锦绣花园北门" and answer["source"] == "order"
    assert 0 < answer["distance_m"] < 20 and answer["cell"]["code"] == "G22"
    # ... but only to those who may see that order: a unit that does not handle it
    assert (await api.call("GET", url, "zjj"))["source"] == "cell"
    await api.act("dispatcher", order["number"], "dispatch", unit="ZJJ")
    assert (await api.call("GET", url, "zjj"))["address"] == "锦绣花园北门"
    # far away (outside every cell): nothing
    far = await api.call("GET", "/api/v1/geo/reverse?lat=39.9&lng=116.4", "agent")
    assert far["address"] is None and far["cell"] is None

    # the map layer: 16 cells and the known address
    layer = await api.call("GET", "/api/v1/geo/map", "agent")
    kinds = [f["properties"]["kind"] for f in layer["features"]]
    assert kinds.count("cell") == 16 and kinds.count("address") == 1
    point = next(f for f in layer["features"] if f["properties"]["kind"] == "address")
    assert point["geometry"]["coordinates"] == [NEAR["longitude"], NEAR["latitude"]]


@pytest.mark.parametrize(
    "query", ["lat=91&lng=114", "lat=30&lng=-181", "lat=abc&lng=1", "lat=30", "lat=nan&lng=1"]
)
async def test_bad_positions_are_400(web_client, api, query):
    body = await api.call("GET", f"/api/v1/geo/reverse?{query}", "agent", expect=400)
    assert body["error"]["code"]
    resp = await web_client.get(f"/web/api/geo/reverse?{query}")
    assert resp.status == 400 and (await resp.json())["error"]["message"]


async def test_the_api_needs_a_login(web_client, api):
    await api.call("GET", "/api/v1/geo/reverse?lat=30&lng=114", expect=401)
    await api.call("GET", "/api/v1/geo/map", expect=401)
    doc = await api.call("GET", "/api/v1/openapi.json")
    assert "/api/v1/geo/reverse" in doc["paths"] and "/api/v1/geo/map" in doc["paths"]


async def test_an_anonymous_citizen_gets_the_grid_only(any_client):
    """Earlier reports' addresses are not public: the citizen's page gets the cell."""
    web_client, api = any_client, Api(any_client)
    await load_grid(web_client)
    await api.register(user="inspector", channel="inspector", address="锦绣花园北门", **NEAR)
    resp = await web_client.get("/web/api/geo/reverse", params=HERE)
    assert resp.status == 200
    assert (await resp.json())["address"] == CELL_ADDRESS
    layer = await (await web_client.get("/web/api/geo/map")).json()
    assert {f["properties"]["kind"] for f in layer["features"]} == {"cell"}


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0, zh", "zh"),
        ("de", "zh"),
        ("", "zh"),
        ("en;q=abc", "zh"),
    ],
)
def test_accept_language(header, lang):
    assert i18n.best_language(header) == lang


def test_every_citizen_message_has_english():
    """Each _("...") of the citizen templates and the page script's messages."""
    import re
    from pathlib import Path

    templates = Path(i18n.__file__).parent / "templates"
    used = set()
    for name in ["citizen.html", "citizen_done.html", "citizen_track.html", "_map.html"]:
        used |= set(re.findall(r"""_\(["']([^"']+)["']""", (templates / name).read_text()))
    used |= set(i18n.JS_MESSAGES)
    assert used and used <= set(i18n.EN), used - set(i18n.EN)


async def test_language_switch_sets_a_cookie_and_never_leaves_the_site(web_client):
    resp = await web_client.get(
        "/web/citizen/lang/en", params={"next": "/web/citizen#track"}, allow_redirects=False
    )
    assert resp.status == 302 and resp.headers["Location"] == "/web/citizen#track"
    assert resp.cookies["lang"].value == "en"
    page = await (await web_client.get("/web/citizen")).text()
    assert '<html lang="en">' in page and "Submit a request" in page
    for target in ["https://evil.example/", "//evil.example/web/citizen", "/web/agent"]:
        resp = await web_client.get(
            "/web/citizen/lang/zh", params={"next": target}, allow_redirects=False
        )
        assert resp.headers["Location"] == "/web/citizen"
    page = await (await web_client.get("/web/citizen")).text()
    assert '<html lang="zh-CN">' in page and "提交诉求" in page
    assert (await web_client.get("/web/citizen/lang/fr")).status == 404
    # a citizen's error page follows the language, under the hotline's public name
    await web_client.get("/web/citizen/lang/en")
    resp = await web_client.get("/web/citizen/t/" + "A" * 20)
    page = await resp.text()
    assert resp.status == 404 and "Page not found" in page and "Back to citizen requests" in page
    assert "12345 Government Service Hotline" in page and "工单系统" not in page
    # ... while staff pages stay Chinese
    page = await (await web_client.get("/login")).text()
    assert '<html lang="zh-CN">' in page and "登录" in page


async def test_form_errors_in_english(web_client, browser):
    web_client.session.cookie_jar.update_cookies({"lang": "en"})
    token = await browser.csrf("/web/citizen")
    form = {"csrf_token": token, "content": "", "caller_phone": "abc", "hotline": "12345"}
    resp = await web_client.post("/web/citizen/submit", data=form)
    page = await resp.text()
    assert resp.status == 400
    assert "Your request: required; Mobile number: not valid" in page
    form["caller_phone"] = ""
    page = await (await web_client.post("/web/citizen/submit", data=form)).text()
    assert "Mobile number: required, to track the request and follow up" in page
    resp = await web_client.post(
        "/web/citizen/track", data={"csrf_token": token, "number": "1", "phone": "2"}
    )
    assert resp.status == 404
    assert "No such request: check the number" in await resp.text()
    # the same in Chinese
    web_client.session.cookie_jar.update_cookies({"lang": "zh"})
    form["caller_phone"] = "abc"
    page = await (await web_client.post("/web/citizen/submit", data=form)).text()
    assert "诉求内容:缺少必填字段;来电号码:格式不正确" in page


async def test_import_grid_from_the_command_line(web_client, api, sqlite_url, tmp_path):
    import subprocess
    import sys

    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "X1", "name": "试点网格", "district": "东湖区"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[114.0, 30.0], [114.1, 30.0], [114.1, 30.1], [114.0, 30.0]]],
                },
            }
        ],
    }
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    db = sqlite_url.split(":///", 1)[1]
    run = subprocess.run(
        [sys.executable, "-m", "dispatch", "import-grid", "--db", db, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    answer = await api.call("GET", "/api/v1/geo/reverse?lat=30.02&lng=114.05", "agent")
    assert answer["address"] == "东湖区试点网格" and answer["cell"]["code"] == "X1"
    # a broken file changes nothing
    path.write_text('{"type": "FeatureCollection", "features": [{}]}', encoding="utf-8")
    cmd = [sys.executable, "-m", "dispatch", "import-grid", "--db", db, str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "导入失败" in run.stderr
    answer = await api.call("GET", "/api/v1/geo/reverse?lat=30.02&lng=114.05", "agent")
    assert answer["cell"]["code"] == "X1"


async def test_the_tile_server_is_allowed_by_the_page_policy(web_client):
    from app.keys import SETTINGS

    settings = web_client.server.app[SETTINGS].web
    policy = (await web_client.get("/web/citizen")).headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in policy  # no tiles: nothing else
    settings.map_tiles_url = "https://{s}.tiles.example.gov.cn/{z}/{x}/{y}.png"
    try:
        resp = await web_client.get("/web/citizen")
        policy = resp.headers["Content-Security-Policy"]
        assert "img-src 'self' data: https://*.tiles.example.gov.cn;" in policy
        assert 'data-tiles="https://{s}.tiles.example.gov.cn/{z}/{x}/{y}.png"' in await resp.text()
    finally:
        settings.map_tiles_url = ""
