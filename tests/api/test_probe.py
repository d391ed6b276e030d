"""Findings of the outside security probe (issue #16) on the JSON API: each one was a 500
with a traceback; each must be a clear 4xx with the JSON error body."""

from __future__ import annotations

import logging

import pytest

HUGE_PAGE = "200000000000000000"


def _no_traceback(caplog) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_deeply_nested_json_is_a_400(api, caplog):
    resp = await api.client.post(
        "/api/v1/auth/token",
        data=b"[" * 1000,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"
    _no_traceback(caplog)


async def test_nesting_just_under_the_interpreter_limit_is_a_400_too(api, caplog):
    body = b"[" * 900 + b"]" * 900
    resp = await api.client.post(
        "/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    _no_traceback(caplog)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/orders", "/api/v1/calls", "/api/v1/callbacks", "/api/v1/stats/reports"],
)
async def test_a_huge_page_number_is_a_400(api, caplog, path):
    err = await api.call("GET", f"{path}?page={HUGE_PAGE}", "admin", expect=400)
    assert err["error"]["code"] == "validation_error"
    err = await api.call("GET", f"{path}?page=1&page_size={HUGE_PAGE}", "admin", expect=400)
    assert err["error"]["code"] == "validation_error"
    _no_traceback(caplog)


@pytest.mark.parametrize("raw", ["%C2%B2", "%D9%A3", "%EF%BC%91", "+1", "1_0"])
async def test_non_ascii_digits_in_a_notification_id_are_a_404(api, caplog, raw):
    err = await api.call("POST", f"/api/v1/notifications/{raw}/read", "agent", expect=404)
    assert err["error"]["code"] == "not_found"
    _no_traceback(caplog)


async def test_405_carries_allow_and_the_json_error(api):
    resp = await api.client.delete("/api/v1/orders")
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_notifications_are_paged_like_the_other_lists(api):
    for _ in range(3):
        number = (await api.register())["number"]
        await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    page = await api.call("GET", "/api/v1/notifications?page_size=2", "zjj")
    assert set(page) == {"items", "total", "page", "page_size"}
    assert (page["total"], page["page"], page["page_size"], len(page["items"])) == (3, 1, 2, 2)
    rest = await api.call("GET", "/api/v1/notifications?page_size=2&page=2", "zjj")
    assert len(rest["items"]) == 1
    assert {n["id"] for n in page["items"]}.isdisjoint(n["id"] for n in rest["items"])
    await api.call("GET", f"/api/v1/notifications?page={HUGE_PAGE}", "zjj", expect=400)


async def test_openapi_declares_the_errors_where_they_can_happen(api):
    doc = await api.call("GET", "/api/v1/openapi.json")

    def statuses(path: str, method: str) -> set[str]:
        return {s for s in doc["paths"][path][method]["responses"] if s >= "400"}

    assert statuses("/api/v1/auth/token", "post") == {"400", "413", "429"}
    # 429: every route but the health check counts against the API-wide rate limit
    assert statuses("/api/v1/users", "post") == {"400", "401", "403", "409", "413", "429"}
    assert statuses("/api/v1/orders", "get") == {"400", "401", "403", "429"}
    assert statuses("/healthz", "get") == {"400"}
    # a body's `hotline` is one of the centre's numbers (settings), not any string
    order = doc["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    name = order["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][name]["properties"]["hotline"]["enum"] == [
        "12345",
        "12319",
        "12358",
        "12350",
    ]
    assert "409" in statuses("/api/v1/orders/{number}/actions/accept", "post")
    assert "409" in statuses("/api/v1/kb/entries/{id}/publish", "post")
    assert "409" in statuses("/api/v1/units", "post")
    assert "413" in statuses("/api/v1/orders/{number}/attachments", "post")
    assert "413" in statuses("/api/v1/stats/orders.xlsx", "get")
    assert "404" in statuses("/api/v1/orders/{number}", "get")
    for ops in doc["paths"].values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                if status >= "400":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error"
