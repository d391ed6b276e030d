"""Every list answers in DESIGN §9's shape, `{"items","total","page","page_size"}`,
and honours `page`/`page_size`, also the short lists held whole in memory."""

from __future__ import annotations

import pytest

from tests.api.conftest import UNITS

LISTS = [
    ("/api/v1/units", "admin"),
    ("/api/v1/users", "admin"),
    ("/api/v1/hotlines", "admin"),
    ("/api/v1/hotlines/12345/history", "admin"),
    ("/api/v1/categories", "admin"),
    ("/api/v1/api-keys", "admin"),
    ("/api/v1/webhooks", "admin"),
    ("/api/v1/agents", "supervisor"),
    ("/api/v1/queues", "supervisor"),
    ("/api/v1/orders", "supervisor"),
]


@pytest.mark.parametrize(("path", "user"), LISTS)
async def test_every_list_has_the_page_shape(api, path, user):
    body = await api.call("GET", path, user)
    assert set(body) >= {"items", "total", "page", "page_size"}, body
    assert (body["page"], body["page_size"]) == (1, 50)
    assert body["total"] >= len(body["items"])


async def test_a_short_list_is_paged_like_the_long_ones(api):
    first = await api.call("GET", "/api/v1/units?page_size=2", "admin")
    second = await api.call("GET", "/api/v1/units?page=2&page_size=2", "admin")
    assert first["total"] == second["total"] == len(UNITS)
    assert len(first["items"]) == len(second["items"]) == 2
    codes = [u["code"] for u in first["items"] + second["items"]]
    assert len(set(codes)) == 4
    past = await api.call("GET", "/api/v1/units?page=9&page_size=2", "admin")
    assert past["items"] == [] and past["total"] == len(UNITS)
    await api.call("GET", "/api/v1/units?page_size=501", "admin", expect=400)
