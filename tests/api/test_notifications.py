"""In-app notifications of dispatched orders: the recipients are read once and kept
(issue 11), yet a user added to a unit hears of its next order at once."""

from __future__ import annotations

from tests.conftest import INITIAL_PASSWORD, PASSWORD


async def _dispatch(api, unit: str = "CGJ") -> str:
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    return number


async def _news(api, user: str) -> list[str]:
    items = (await api.call("GET", "/api/v1/notifications", user))["items"]
    return [item["message"] for item in items]


async def test_a_user_added_to_a_unit_hears_of_its_next_order(api):
    first = await _dispatch(api)
    assert any(first in message for message in await _news(api, "cgj"))
    body = {"username": "cgj_new", "password": INITIAL_PASSWORD, "role": "unit", "unit": "CGJ"}
    await api.call("POST", "/api/v1/users", "admin", body, expect=201)
    await api.login("cgj_new", INITIAL_PASSWORD)
    change = {"old": INITIAL_PASSWORD, "new": PASSWORD}
    await api.call("POST", "/api/v1/auth/password", "cgj_new", change)
    second = await _dispatch(api)
    news = await _news(api, "cgj_new")
    assert len(news) == 1 and second in news[0] and "已派至本单位" in news[0]
    other = await _dispatch(api, unit="DHQ")  # another unit's order is not theirs
    assert all(other not in message for message in await _news(api, "cgj_new"))
