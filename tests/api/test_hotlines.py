"""Hotlines edited at run time (DESIGN §9): recorded, kept over a restart; the
configuration only seeds a new database."""

from __future__ import annotations

from app.factory import create_app
from tests.api.conftest import Api
from tests.conftest import make_settings


async def _hotlines(api: Api) -> dict[str, dict]:
    return {h["number"]: h for h in (await api.call("GET", "/api/v1/hotlines", "agent"))["items"]}


async def test_an_admin_edits_a_hotline_and_the_change_is_recorded(api, clock):
    path = "/api/v1/hotlines/12358"
    body = {"mode": "external", "handoff_unit": "CGJ"}
    changed = await api.call("PUT", path, "admin", body)
    assert changed == {
        "number": "12358",
        "name": "12358价格监督举报热线",
        "mode": "external",
        "handoff_unit": "CGJ",
    }
    clock.advance(minutes=5)
    await api.call("PUT", path, "admin", {"name": "12358价格举报热线"})
    await api.call("PUT", path, "admin", {"name": "12358价格举报热线"})  # no change: no record
    history = (await api.call("GET", f"{path}/history", "admin"))["items"]
    assert [h["changes"] for h in history] == [
        {"name": ["12358价格监督举报热线", "12358价格举报热线"]},
        {"handoff_unit": [None, "CGJ"]},  # 12358 is external in the configuration already
    ]
    assert history[0]["by"] == "admin" and history[0]["at"] > history[1]["at"]
    # leaving mode external drops the hand-off unit, recorded too
    changed = await api.call("PUT", path, "admin", {"mode": "central"})
    assert (changed["mode"], changed["handoff_unit"]) == ("central", None)
    history = (await api.call("GET", f"{path}/history", "admin"))["items"]
    assert history[0]["changes"] == {"mode": ["external", "central"], "handoff_unit": ["CGJ", None]}


async def test_bad_hotline_edits_change_nothing(api):
    before = await _hotlines(api)
    cases = [
        ("12345", {"mode": "external"}, 400, "handoff_unit_required"),
        ("12345", {"mode": "external", "handoff_unit": "NOPE"}, 400, "unknown_unit"),
        ("12345", {"handoff_unit": "CGJ"}, 400, "handoff_unit_not_external"),
        ("12345", {"mode": "sideways"}, 400, "validation_error"),
        ("12345", {"name": ""}, 400, "validation_error"),
        ("12345", {"name": None}, 400, "validation_error"),
        ("12345", {"colour": "red"}, 400, "validation_error"),
        ("99999", {"name": "x"}, 404, "unknown_hotline"),
    ]
    for number, body, status, code in cases:
        error = await api.call("PUT", f"/api/v1/hotlines/{number}", "admin", body, expect=status)
        assert error["error"]["code"] == code, (number, body, error)
    await api.call("PUT", "/api/v1/hotlines/12345", "dispatcher", {"name": "x"}, expect=403)
    assert await _hotlines(api) == before
    assert (await api.call("GET", "/api/v1/hotlines/12345/history", "admin"))["items"] == []


async def test_edits_survive_a_restart_and_config_only_seeds(
    aiohttp_client, api, sqlite_url, clock
):
    body = {"name": "价格热线", "mode": "external", "handoff_unit": "CGJ"}
    await api.call("PUT", "/api/v1/hotlines/12358", "admin", body)
    settings = make_settings(sqlite_url)  # the same configuration, read again at a restart
    again = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    hotline = (await _hotlines(again))["12358"]
    assert (hotline["name"], hotline["mode"], hotline["handoff_unit"]) == (
        "价格热线",
        "external",
        "CGJ",
    )
    assert (await _hotlines(again))["12345"]["name"] == "12345政务服务便民热线"
