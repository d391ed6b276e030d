"""紧急诉求 in the agent console, in Chromium: a rule-matched or learned emergency shows
the red banner with the danger, the words that raised it and the line to hand over to,
and sets 紧急程度 to 紧急; an ordinary request clears both again (issue 15: the banner
was broken for every rule match)."""

from __future__ import annotations

import pytest

from tests.web.test_browser import Session, base, chromium  # noqa: F401

ORDINARY = "小区楼道垃圾无人清理,物业一直不管"


@pytest.mark.parametrize(
    ("text", "kind", "evidence", "line"),
    [
        ("闻到很大的煤气味,楼道里都是", "燃气泄漏", "“煤气味”", "119"),
        ("楼下有人打架,拿着刀在追人", "暴力/治安", "“刀”", "110"),
        ("门口路面突然塌陷了一个大坑", "坍塌/爆炸", "“塌陷”", "119"),
    ],
)
async def test_rule_matched_emergency_shows_the_banner(chromium, base, text, kind, evidence, line):  # noqa: F811
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    assert await page.input_value("#urgency") == "normal"
    await page.fill("#content", text)
    banner = page.locator("#emergency")
    await banner.wait_for(state="visible")
    shown = await banner.inner_text()
    assert kind in shown and evidence in shown and f"转接 {line}" in shown
    assert await page.input_value("#urgency") == "urgent"
    assert "暂不可用" not in await page.inner_text("#suggest-status")

    await page.fill("#content", ORDINARY)
    await banner.wait_for(state="hidden")
    assert await page.input_value("#urgency") == "normal"
    assert agent.errors == []


async def test_learned_emergency_names_its_evidence_and_respects_the_agent(chromium, base):  # noqa: F811
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    await page.select_option("#urgency", "normal")  # the agent's own choice stays
    await page.fill("#content", "电梯里困了人一直在喊")  # no rule: the learned part
    banner = page.locator("#emergency")
    await banner.wait_for(state="visible")
    shown = await banner.inner_text()
    assert "依据:“困”" in shown and "转接 119" in shown and "()" not in shown
    assert await page.input_value("#urgency") == "normal"
    await agent.shot("emergency-banner.png")
    assert agent.errors == []
