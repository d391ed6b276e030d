# ruff: noqa: F811 (the web tests' fixtures are imported and used as parameters)
"""语言技能: an admin sets the languages an agent speaks on the agent's user page (and
by the API); other roles have no such section; bad input is a 4xx, audited."""

from __future__ import annotations

import shutil

from tests.conftest import ADMIN_PASSWORD
from tests.web.test_admin import AdminSession
from tests.web.test_browser import SHOTS, TIMEOUT_MS, base, chromium  # noqa: F401 (fixtures)
from tests.web.test_proposal import DOCS


async def test_admin_sets_an_agents_languages_in_the_browser(chromium, base, api):
    admin = AdminSession(chromium, base)
    page = await admin.login_as("admin", ADMIN_PASSWORD, "/web/admin/units")
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await admin.open("/web/admin/users/supervisor")
    assert await page.locator("#form-languages").count() == 0  # not an agent

    await admin.open("/web/admin/users/agent")
    await page.check("#form-languages input[value=yue]")
    await page.check("#form-languages input[value=en]")
    await admin.shot("agent-languages.png")
    shutil.copyfile(SHOTS / "agent-languages.png", DOCS / "web-agent-languages.png")
    await admin.submit("languages")
    assert await admin.flash() == "坐席 agent 的语言技能已保存:粤语、英语"
    assert await page.is_checked("#form-languages input[value=en]")
    assert not await page.is_checked("#form-languages input[value=ug]")
    [agent] = (await api.call("GET", "/api/v1/agents", "supervisor"))["items"]
    assert (agent["username"], agent["languages"], agent["queues"]) == ("agent", ["yue", "en"], [])

    await page.uncheck("#form-languages input[value=yue]")
    await admin.submit("languages")
    assert await admin.flash() == "坐席 agent 的语言技能已保存:英语"
    assert errors == []

    audit = await api.call("GET", "/api/v1/audit?type=user.update", "admin")
    assert [e["detail"]["languages"] for e in audit["items"]][:2] == [["en"], ["yue", "en"]]


async def test_agent_languages_api_roles_and_bad_input(api):
    body = {"languages": ["ug"]}
    await api.call("PUT", "/api/v1/agents/agent/languages", "agent", body, expect=403)
    bad = await api.call(
        "PUT", "/api/v1/agents/agent/languages", "admin", {"languages": ["fr"]}, expect=400
    )
    assert bad["error"]["code"] == "unknown_language"
    missing = await api.call(
        "PUT", "/api/v1/agents/supervisor/languages", "admin", body, expect=404
    )
    assert missing["error"]["code"] == "agent_not_found"
    await api.call("PUT", "/api/v1/agents/agent/languages", "admin", {}, expect=400)
    done = await api.call("PUT", "/api/v1/agents/agent/languages", "admin", body)
    assert done["languages"] == ["ug"] and done["state"] == "logged_out"
    failed = await api.call("GET", "/api/v1/audit?type=user.update&result=failure", "admin")
    assert {e["detail"]["error"] for e in failed["items"]} == {
        "unknown_language",
        "agent_not_found",
    }
