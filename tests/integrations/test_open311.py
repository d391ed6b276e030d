"""Open311 GeoReport v2 server (DESIGN §8): every JSON answer checked against the
GeoReport v2 schemas (open311_schemas/), every XML answer parsed for its root."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import jsonschema_rs
import pytest

from app.keys import REQUEST_LIMITER, SETTINGS
from tests.api.conftest import Api

SCHEMAS = Path(__file__).parent / "open311_schemas"
BASE = "/open311/v2"
# (code, name, parent, default unit): two levels; the leaves are the services
CATEGORIES = [
    ("CJ", "城乡建设", None, None),
    ("CJ-WY", "物业管理", "CJ", "ZJJ"),
    ("CJ-LD", "路灯照明", "CJ", "CGJ"),
    ("HB", "环境保护", None, None),
    ("HB-ZY", "噪音扰民", "HB", "DHQ"),
]
PHONE = "13912345678"


def _retrieve(uri: str) -> Any:
    return json.loads((SCHEMAS / uri.rsplit("/", 1)[-1]).read_text())


def check(name: str, data: Any) -> Any:
    """`data` valid against open311_schemas/<name>.json (with its $refs), or fail."""
    validator = jsonschema_rs.validator_for(
        _retrieve(name),
        retriever=_retrieve,
        validate_formats=True,
        base_uri=f"file:///open311_schemas/{name}",
    )
    errors = [e.message for e in validator.iter_errors(data)]
    assert not errors, (name, errors, data)
    return data


async def get_json(api: Api, path: str, schema: str, expect: int = 200, **params) -> Any:
    resp = await api.client.get(f"{BASE}/{path}.json", params=params)
    assert resp.status == expect, await resp.text()
    assert resp.content_type == "application/json"
    return check(schema, await resp.json())


async def get_xml(api: Api, path: str, root: str, expect: int = 200, **params) -> ET.Element:
    resp = await api.client.get(f"{BASE}/{path}.xml", params=params)
    assert resp.status == expect, await resp.text()
    assert resp.content_type == "text/xml"
    element = ET.fromstring(await resp.read())
    assert element.tag == root
    return element


async def post(api: Api, form: dict[str, Any], fmt: str = "json", status: int = 201):
    resp = await api.client.post(f"{BASE}/requests.{fmt}", data=form)
    assert resp.status == status, await resp.text()
    if fmt == "xml":
        return ET.fromstring(await resp.read())
    data = await resp.json()
    return check("post-response.json" if status == 201 else "errors.json", data)


@pytest.fixture
async def open311(api: Api) -> Api:
    for code, name, parent, unit in CATEGORIES:
        body = {"code": code, "name": name, "parent": parent, "default_unit": unit}
        await api.call("POST", "/api/v1/categories", "admin", body, expect=201)
    return api


async def open311_key(api: Api, unit: str | None = None) -> str:
    body = {"name": "市民App", **({"unit": unit} if unit else {})}
    return (await api.call("POST", "/api/v1/api-keys", "admin", body, expect=201))["api_key"]


def request_form(key: str, **fields) -> dict[str, Any]:
    return {
        "api_key": key,
        "service_code": "CJ-WY",
        "lat": "28.68",
        "long": "115.89",
        "address_string": "东湖区八一大道 100 号",
        "description": "小区楼道堆满垃圾,物业一周没有清理",
        "first_name": "先生",
        "last_name": "王",
        "phone": PHONE,
        **fields,
    }


async def test_discovery_and_services(open311: Api):
    api = open311
    found = await get_json(api, "discovery", "discovery.json")
    assert found["endpoints"][0]["url"].endswith(BASE)
    assert "application/json" in found["endpoints"][0]["formats"]
    root = await get_xml(api, "discovery", "discovery")
    assert root.find("endpoints/endpoint/formats/format") is not None

    services = await get_json(api, "services", "services.json")
    by_code = {s["service_code"]: s for s in services}
    assert set(by_code) == {"CJ-WY", "CJ-LD", "HB-ZY"}  # the leaves of the catalogue
    assert by_code["CJ-WY"] == {
        "service_code": "CJ-WY",
        "service_name": "物业管理",
        "description": "城乡建设 / 物业管理",
        "metadata": False,
        "type": "realtime",
        "keywords": "城乡建设,物业管理",
        "group": "城乡建设",
    }
    root = await get_xml(api, "services", "services")
    assert [s.findtext("service_code") for s in root.findall("service")] == sorted(by_code)
    assert root.find("service/metadata").text == "false"

    definition = await get_json(api, "services/HB-ZY", "service-definition.json")
    assert definition == {"service_code": "HB-ZY", "attributes": []}
    root = await get_xml(api, "services/HB-ZY", "service_definition")
    assert root.findtext("service_code") == "HB-ZY"
    errors = await get_json(api, "services/NOPE", "errors.json", expect=404)
    assert errors[0]["code"] == 404
    root = await get_xml(api, "services/NOPE", "errors", expect=404)
    assert root.findtext("error/code") == "404"


async def test_configured_attributes_make_metadata(aiohttp_client, sqlite_url, clock):
    from app.factory import create_app
    from config import Open311AttributeSettings
    from tests.api.conftest import seed
    from tests.conftest import make_settings

    settings = make_settings(sqlite_url)
    settings.open311.attributes = {
        "CJ-WY": [
            Open311AttributeSettings(code="floor", description="楼层", datatype="number"),
            Open311AttributeSettings(
                code="kind",
                description="问题类型",
                datatype="singlevaluelist",
                required=True,
                values={"trash": "垃圾", "lift": "电梯"},
            ),
        ]
    }
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    for code, name, parent, unit in CATEGORIES:
        body = {"code": code, "name": name, "parent": parent, "default_unit": unit}
        await api.call("POST", "/api/v1/categories", "admin", body, expect=201)
    services = await get_json(api, "services", "services.json")
    assert {s["service_code"]: s["metadata"] for s in services}["CJ-WY"] is True
    definition = await get_json(api, "services/CJ-WY", "service-definition.json")
    assert [a["code"] for a in definition["attributes"]] == ["floor", "kind"]
    assert definition["attributes"][1]["values"] == [
        {"key": "trash", "name": "垃圾"},
        {"key": "lift", "name": "电梯"},
    ]
    root = await get_xml(api, "services/CJ-WY", "service_definition")
    assert len(root.findall("attributes/attribute")) == 2
    key = await open311_key(api)
    errors = await post(api, request_form(key), status=400)  # kind is required
    assert "attribute[kind]" in errors[0]["description"]
    answer = await post(api, request_form(key, **{"attribute[kind]": "trash"}))
    order = await api.order(answer[0]["service_request_id"])
    assert "问题类型: trash" in order["content"]


async def test_a_posted_request_becomes_an_open311_order(open311: Api):
    api = open311
    key = await open311_key(api)
    media = "https://example.org/photo/1.jpg"
    answer = await post(api, request_form(key, media_url=media))
    number = answer[0]["service_request_id"]
    assert number in answer[0]["service_notice"]
    order = await api.order(number)
    assert (order["channel"], order["hotline"], order["category"]) == ("open311", "12345", "CJ-WY")
    assert (order["caller_name"], order["caller_phone"]) == ("王先生", PHONE)
    assert (order["latitude"], order["longitude"]) == (28.68, 115.89)
    assert order["events"][0]["by"].startswith("key:")
    listed = await api.call("GET", "/api/v1/orders", "supervisor", params={"q": "楼道"})
    assert number in [o["number"] for o in listed["items"]]

    got = await get_json(api, f"requests/{number}", "requests.json")
    assert len(got) == 1
    request = got[0]
    assert request["service_request_id"] == number
    assert (request["status"], request["service_code"]) == ("open", "CJ-WY")
    assert request["service_name"] == "物业管理"
    assert request["description"] == "小区楼道堆满垃圾,物业一周没有清理"
    assert request["media_url"] == media
    assert request["requested_datetime"].endswith("+08:00")
    assert (request["lat"], request["long"]) == (28.68, 115.89)
    assert PHONE not in json.dumps(got) and "王" not in json.dumps(got)
    root = await get_xml(api, f"requests/{number}", "service_requests")
    assert root.findtext("request/service_request_id") == number
    assert PHONE not in ET.tostring(root, encoding="unicode")

    # XML POST answers with the spec's elements; a unit-bound key may post too
    unit_key = await open311_key(api, unit="ZJJ")
    root = await post(api, request_form(unit_key, service_code="HB-ZY"), fmt="xml")
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id")


@pytest.mark.parametrize(
    "key_of, headers",
    [
        (lambda key: None, {}),  # no key at all
        (lambda key: "hk_not-a-key", {}),
        (lambda key: None, {"X-API-Key": "hk_not-a-key"}),
    ],
)
async def test_posting_without_a_valid_key_is_403(open311: Api, key_of, headers):
    api = open311
    form = request_form(await open311_key(api))
    form.pop("api_key")
    if (bad := key_of(None)) is not None:
        form["api_key"] = bad
    resp = await api.client.post(f"{BASE}/requests.json", data=form, headers=headers)
    assert resp.status == 403
    check("errors.json", await resp.json())
    resp = await api.client.post(f"{BASE}/requests.xml", data=form, headers=headers)
    assert resp.status == 403 and ET.fromstring(await resp.read()).tag == "errors"
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 0


async def test_a_revoked_key_is_refused(open311: Api):
    api = open311
    created = await api.call("POST", "/api/v1/api-keys", "admin", {"name": "app"}, expect=201)
    await api.call("DELETE", f"/api/v1/api-keys/{created['id']}", "admin")
    await post(api, request_form(created["api_key"]), status=403)
    resp = await api.client.get(f"{BASE}/services.json", headers={"X-API-Key": created["api_key"]})
    assert resp.status == 403


@pytest.mark.parametrize(
    "change",
    [
        {"service_code": None},
        {"description": None},
        {"description": "x" * 4001},
        {"lat": None, "long": None, "address_string": None},
        {"lat": "north"},
        {"long": None, "address_string": None},
        {"phone": "call me"},
        {"media_url": "not a url"},
        {"description": "NUL\x00"},
    ],
)
async def test_a_malformed_post_is_400_and_registers_nothing(open311: Api, change):
    api = open311
    form = request_form(await open311_key(api))
    for field, value in change.items():
        if value is None:
            form.pop(field)
        else:
            form[field] = value
    errors = await post(api, form, status=400)
    assert errors[0]["code"] == 400 and errors[0]["description"]
    root = await post(api, form, fmt="xml", status=400)
    assert root.tag == "errors" and root.findtext("error/code") == "400"
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 0


async def test_a_too_large_post_is_413_in_the_error_format(open311: Api):
    api = open311
    limit = api.client.app[SETTINGS].server.max_body_bytes
    form = request_form(await open311_key(api), description="x" * (limit + 1))
    body = io.BytesIO(urlencode(form).encode())  # streamed: aiohttp warns on big raw bytes
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = await api.client.post(f"{BASE}/requests.json", data=body, headers=headers)
    assert resp.status == 413
    assert check("errors.json", await resp.json())[0]["code"] == 413
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 0


async def test_an_unknown_service_is_404(open311: Api):
    api = open311
    errors = await post(api, request_form(await open311_key(api), service_code="CJ"), status=404)
    assert errors[0]["code"] == 404  # a group, not a service
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 0


async def test_unknown_ids_tokens_and_methods_are_404(open311: Api):
    api = open311
    await get_json(api, "requests/20260101000001", "errors.json", expect=404)
    await get_xml(api, "requests/20260101000001", "errors", expect=404)
    await get_json(api, "tokens/abc", "errors.json", expect=404)
    await get_xml(api, "tokens/abc", "errors", expect=404)
    await get_json(api, "nothing", "errors.json", expect=404)


async def test_requests_filters(open311: Api, clock):
    api = open311
    key = await open311_key(api)
    first = (await post(api, request_form(key)))[0]["service_request_id"]
    clock.advance(days=2)
    noise = request_form(key, service_code="HB-ZY", description="晚上十点以后广场舞音响声音太大")
    second = (await post(api, noise))[0]["service_request_id"]
    # an order of another channel, categorised when dispatched, is a request too
    third = (await api.register(caller_phone="13700000000"))["number"]
    await api.act("dispatcher", third, "dispatch", unit="CGJ", category="CJ-LD")
    # without a category there is no service_code: not a service request
    await api.register(content="咨询公积金提取")
    # confidential orders are never public
    hidden = (await api.register(confidential=True))["number"]
    await api.act("dispatcher", hidden, "dispatch", unit="CGJ", category="CJ-LD")

    def ids(requests: list[dict]) -> list[str]:
        return [r["service_request_id"] for r in requests]

    everything = await get_json(api, "requests", "requests.json")
    assert ids(everything) == [third, second, first]  # newest first
    assert "13700000000" not in json.dumps(everything)
    root = await get_xml(api, "requests", "service_requests")
    assert [r.findtext("service_request_id") for r in root.findall("request")] == ids(everything)

    assert ids(await get_json(api, "requests", "requests.json", service_code="HB-ZY")) == [second]
    both = await get_json(api, "requests", "requests.json", service_code="HB-ZY,CJ-WY")
    assert ids(both) == [second, first]
    picked = await get_json(
        api, "requests", "requests.json", service_request_id=f"{first},{hidden},nope"
    )
    assert ids(picked) == [first]
    start = (clock() - timedelta(days=1)).isoformat()
    assert ids(await get_json(api, "requests", "requests.json", start_date=start)) == [
        third,
        second,
    ]
    assert ids(await get_json(api, "requests", "requests.json", end_date=start)) == [first]
    assert ids(await get_json(api, "requests", "requests.json", status="closed")) == []
    assert len(await get_json(api, "requests", "requests.json", status="open,closed")) == 3
    await get_json(api, "requests", "errors.json", expect=400, status="pending")
    await get_json(api, "requests", "errors.json", expect=400, start_date="yesterday")
    await get_xml(api, "requests", "errors", expect=400, start_date="yesterday")


async def test_status_follows_the_order(open311: Api):
    api = open311
    number = (await post(api, request_form(await open311_key(api))))[0]["service_request_id"]

    async def request() -> dict:
        return (await get_json(api, f"requests/{number}", "requests.json"))[0]

    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    dispatched = await request()
    assert dispatched["agency_responsible"] == "市住建局"
    assert dispatched["status"] == "open" and dispatched["status_notes"] is None
    await api.act("zjj", number, "reply", text="已督促物业当日清理完毕")
    replied = await request()
    # replied: answered, but the centre still calls back and may reopen: open
    assert replied["status"] == "open"
    assert replied["status_notes"] == "已督促物业当日清理完毕"
    await api.act("supervisor", number, "review", approve=True)
    await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    closed = await request()
    assert closed["status"] == "closed" and closed["status_notes"] == "已督促物业当日清理完毕"
    assert closed["expected_datetime"] is None and closed["updated_datetime"]
    listed = await get_json(api, "requests", "requests.json", status="closed")
    assert [r["service_request_id"] for r in listed] == [number]
    root = await get_xml(api, f"requests/{number}", "service_requests")
    assert root.findtext("request/status") == "closed"


async def test_merged_and_invalid_orders_are_closed(open311: Api):
    api = open311
    key = await open311_key(api)
    parent = (await post(api, request_form(key)))[0]["service_request_id"]
    child = (await post(api, request_form(key, description="楼道垃圾没人管")))[0][
        "service_request_id"
    ]
    spam = (await post(api, request_form(key, description="测试测试")))[0]["service_request_id"]
    if (await api.order(child))["state"] != "merged":
        await api.act("dispatcher", child, "merge", parent=parent)
    await api.act("dispatcher", spam, "invalidate", reason="测试数据")
    statuses = {
        r["service_request_id"]: r["status"]
        for r in await get_json(api, "requests", "requests.json")
    }
    assert statuses == {parent: "open", child: "closed", spam: "closed"}


async def test_anonymous_reads_count_against_the_address_keys_do_not(open311: Api):
    api = open311
    key = await open311_key(api)
    used = api.client.app[REQUEST_LIMITER].used("address:127.0.0.1")  # the logins
    api.client.app[SETTINGS].auth.address_requests_per_window = used + 3
    for _ in range(3):
        await get_json(api, "services", "services.json")
    errors = await get_json(api, "services", "errors.json", expect=429)
    assert errors[0]["code"] == 429 and "请求过于频繁" in errors[0]["description"]
    resp = await api.client.get(f"{BASE}/services.json", params={"api_key": key})
    assert resp.status == 200  # a key counts against the key's own limit
    await post(api, request_form(key))  # posting needs a key: never the address limit
