"""Each security-relevant act leaves its line in the audit trail where it happens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.db import unit_of_work
from app.keys import SESSIONS
from callcenter.storage import Call
from tests.api.conftest import Api
from tests.conftest import ADMIN_PASSWORD, MONDAY_10AM, PASSWORD


async def lines(api: Api, **query) -> list[dict]:
    if "admin" not in api.tokens:  # logged in before the search, not as the newest line
        await api.login("admin", ADMIN_PASSWORD)
    query.setdefault("page_size", 500)
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return (await api.call("GET", f"/api/v1/audit?{qs}", "admin"))["items"]


async def last(api: Api, type_: str, **query) -> dict:
    return (await lines(api, type=type_, **query))[0]


async def test_login_success_failure_and_lockout(api: Api, clock):
    await api.login("agent")
    line = await last(api, "login")
    assert line["result"] == "success"
    assert (line["subject"], line["role"], line["object"]) == ("agent", "agent", "agent")
    assert line["address"] == "127.0.0.1"
    assert line["at"].startswith("2026-11-23T10:00:00")  # the service clock, local time
    resp = await api.client.post(
        "/api/v1/auth/token", json={"username": "agent", "password": "Wrong-Password-123"}
    )
    assert resp.status == 401
    line = await last(api, "login")
    assert (line["result"], line["subject"], line["role"]) == ("failure", "agent", "-")
    assert line["detail"]["reason"] == "bad_credentials"
    for _ in range(9):  # ten failures in all lock the account
        clock.advance(minutes=5)  # past each back-off
        await api.client.post(
            "/api/v1/auth/token", json={"username": "agent", "password": "Wrong-Password-123"}
        )
    locked = await lines(api, type="login.locked")
    assert [(x["object"], x["result"]) for x in locked] == [("agent", "success")]
    resp = await api.client.post(
        "/api/v1/auth/token", json={"username": "agent", "password": PASSWORD}
    )
    assert resp.status == 429
    line = await last(api, "login")
    assert (line["result"], line["detail"]["reason"]) == ("failure", "locked")
    failures = await lines(api, type="login", subject="agent", result="failure")
    assert len(failures) == 11  # 10 wrong passwords, 1 while locked


async def test_logout_password_change_and_user_creation(api: Api):
    await api.call(
        "POST",
        "/api/v1/users",
        "admin",
        {"username": "newbie", "password": "Weak", "role": "agent"},
        expect=400,
    )
    line = await last(api, "user.create")
    assert (line["object"], line["result"], line["detail"]["error"]) == (
        "newbie",
        "failure",
        "weak_password",
    )
    await api.call(
        "POST",
        "/api/v1/users",
        "admin",
        {
            "username": "newbie",
            "password": "Copper-Meadow-Lantern-5",
            "role": "unit",
            "unit": "CGJ",
        },
        expect=201,
    )
    line = await last(api, "user.create")
    assert (line["subject"], line["object"], line["result"]) == ("admin", "newbie", "success")
    assert line["detail"] == {"role": "unit", "unit": "CGJ", "hotlines": []}
    await api.login("newbie", "Copper-Meadow-Lantern-5")
    await api.call(
        "POST",
        "/api/v1/auth/password",
        "newbie",
        {"old": "Copper-Meadow-Lantern-5", "new": "Silver-Thistle-Harbour-8"},
    )
    line = await last(api, "password.change")
    assert (line["subject"], line["result"]) == ("newbie", "success")
    await api.call("POST", "/api/v1/auth/revoke", "newbie")
    line = await last(api, "logout")
    assert (line["subject"], line["object"]) == ("newbie", "newbie")


async def test_api_keys_created_and_revoked(api: Api):
    key = await api.call("POST", "/api/v1/api-keys", "admin", {"name": "open311"}, expect=201)
    line = await last(api, "apikey.create")
    assert (line["object"], line["detail"], line["subject"]) == (
        "open311",
        {"id": key["id"], "unit": None},
        "admin",
    )
    assert key["api_key"] not in str(await lines(api))  # the key itself is never logged
    listed = await api.call("GET", "/api/v1/api-keys", "admin")
    assert [k["name"] for k in listed["items"] if k["active"]] == ["open311"]
    await api.call("DELETE", f"/api/v1/api-keys/{key['id']}", "admin")
    line = await last(api, "apikey.revoke")
    assert (line["object"], line["detail"]) == (str(key["id"]), {"name": "open311"})
    resp = await api.client.get("/open311/v2/services.json", headers={"X-API-Key": key["api_key"]})
    assert resp.status in (401, 403, 404)  # revoked: no longer a partner
    await api.call("DELETE", "/api/v1/api-keys/999", "admin", expect=404)
    assert (await last(api, "apikey.revoke"))["result"] == "failure"


async def test_exports_are_audited(api: Api):
    await api.register()
    resp = await api.client.get(
        "/api/v1/stats/orders.csv?from=2026-11-01&to=2026-11-30",
        headers={"Authorization": f"Bearer {await api.login('supervisor')}"},
    )
    assert resp.status == 200
    line = await last(api, "export")
    assert (line["object"], line["subject"], line["result"]) == (
        "orders.csv",
        "supervisor",
        "success",
    )
    assert line["detail"]["query"]["from"] == "2026-11-01" and line["detail"]["bytes"] > 0
    resp = await api.client.get(
        "/api/v1/stats/kpis.xlsx?from=2026-11-01&to=2026-11-30&group_by=unit",
        headers={"Authorization": f"Bearer {api.tokens['supervisor']}"},
    )
    assert resp.status == 200
    assert (await last(api, "export"))["object"] == "kpis.xlsx"


async def test_recording_downloads_are_audited(api: Api, tmp_path):
    wav = tmp_path / "call.wav"
    wav.write_bytes(b"RIFF0000WAVE")
    call_id = "a" * 32
    async with unit_of_work(api.client.app[SESSIONS]) as session:
        session.add(
            Call(
                id=call_id,
                hotline="12345",
                caller="13800138000",
                offered_at=MONDAY_10AM,
                answered_at=MONDAY_10AM,
                ended_at=MONDAY_10AM + timedelta(minutes=3),
                agent="agent",
                outcome="completed",
                recording=str(wav),
            )
        )
    resp = await api.client.get(
        f"/api/v1/calls/{call_id}/recording",
        headers={"Authorization": f"Bearer {await api.login('supervisor')}"},
    )
    assert resp.status == 200 and await resp.read() == wav.read_bytes()
    line = await last(api, "recording.listen")
    assert (line["object"], line["subject"], line["result"]) == (call_id, "supervisor", "success")
    # another agent's call is not theirs: refused, and the attempt is on the record
    await add_other_agent(api)
    await api.call("GET", f"/api/v1/calls/{call_id}/recording", "agent2", expect=404)
    line = await last(api, "recording.listen")
    assert (line["subject"], line["result"]) == ("agent2", "failure")


async def add_other_agent(api: Api) -> None:
    from tests.api.conftest import add_user

    await add_user(api, username="agent2", role="agent")


async def test_calendar_changes_are_audited(api: Api):
    await api.call(
        "PUT", "/api/v1/calendar/2026-12-05", "admin", {"working": True, "note": "调休上班"}
    )
    line = await last(api, "calendar")
    assert (line["object"], line["subject"]) == ("2026-12-05", "admin")
    assert line["detail"] == {"action": "set", "working": True, "note": "调休上班", "before": None}
    await api.call("PUT", "/api/v1/calendar/2026-12-05", "admin", {"working": False})
    line = await last(api, "calendar")
    assert line["detail"]["before"] == {"working": True, "note": "调休上班"}


async def test_config_changes_are_audited(api: Api):
    await api.call("POST", "/api/v1/units", "admin", {"code": "SWJ", "name": "市水务局"}, 201)
    line = await last(api, "config.unit")
    assert (line["object"], line["detail"]["action"]) == ("SWJ", "create")
    await api.call("POST", "/api/v1/units", "admin", {"code": "SWJ", "name": "重复"}, 409)
    assert (await last(api, "config.unit"))["result"] == "failure"
    body = {"code": "SW", "name": "水务", "default_unit": "SWJ"}
    await api.call("POST", "/api/v1/categories", "admin", body, expect=201)
    assert (await last(api, "config.category"))["object"] == "SW"


async def test_search_filters_pages_and_roles(api: Api, clock):
    items = await lines(api)
    assert items and items == sorted(items, key=lambda x: -x["seq"])  # newest first
    assert {x["type"] for x in await lines(api, type="user")} == {"user.create"}
    assert await lines(api, **{"from": "2026-11-24"}) == []
    assert len(await lines(api, **{"from": "2026-11-23", "to": "2026-11-23"})) == len(items)
    page = await api.call("GET", "/api/v1/audit?page=2&page_size=3", "admin")
    assert [x["seq"] for x in page["items"]] == [x["seq"] for x in items[3:6]]
    assert page["total"] == len(items)
    await api.call("GET", "/api/v1/audit?from=2026-11-24&to=2026-11-23", "admin", expect=400)
    await api.call("GET", "/api/v1/audit?result=maybe", "admin", expect=400)
    for user in ("supervisor", "agent", "zjj"):
        await api.call("GET", "/api/v1/audit", user, expect=403)
        await api.call("GET", "/api/v1/audit/verify", user, expect=403)


async def test_verify_api_says_where_the_chain_breaks(api: Api):
    verdict = await api.call("GET", "/api/v1/audit/verify", "admin")
    assert verdict["intact"] and verdict["entries"] > 10 and verdict["broken_at"] is None
    async with unit_of_work(api.client.app[SESSIONS]) as session:
        await session.execute(text("DROP TRIGGER audit_log_no_update"))
        await session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5"))
    verdict = await api.call("GET", "/api/v1/audit/verify", "admin")
    assert (verdict["intact"], verdict["broken_at"], verdict["entries"]) == (False, 5, 4)
    line = await last(api, "audit.verify")
    assert line["result"] == "failure" and line["detail"]["broken_at"] == 5
