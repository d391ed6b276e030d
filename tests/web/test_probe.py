"""Findings of the outside security probe (issue #16) on the web pages: no 500, no
traceback in the log, a Chinese message instead."""

from __future__ import annotations

import logging

import pytest

from tests.web.conftest import Browser


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
