# ruff: noqa: F811 (the fixture is imported and used as a parameter)
"""语言技能 set while this node's SIP intake runs: the live ACD has them at once (no
re-login), and they are stored for the next start."""

from __future__ import annotations

from app.keys import CALLCENTER, SESSIONS
from callcenter import storage
from callcenter.desk import user_id_of
from tests.api.conftest import Api
from tests.callcenter.test_campaign_browser import web_client  # noqa: F401 (fixture)

URI = "sip:1001@127.0.0.1:5070"


async def test_languages_reach_the_live_acd(web_client):
    api = Api(web_client)
    app = web_client.server.app
    center = app[CALLCENTER]
    body = {"action": "login", "sip_uri": URI, "queues": ["general"]}
    await api.call("PUT", "/api/v1/agents/me", "agent", body)
    user_id = await user_id_of(app[SESSIONS], "agent")
    assert not center.acd.agents[user_id].takes(frozenset({"lang_kk"}))
    done = await api.call("PUT", "/api/v1/agents/agent/languages", "admin", {"languages": ["kk"]})
    assert (done["state"], done["languages"], done["queues"]) == ("available", ["kk"], ["general"])
    assert center.acd.agents[user_id].takes(frozenset({"lang_kk"}))
    async with app[SESSIONS]() as session:
        stored = await storage.load_agent(session, user_id)
    assert stored.languages == ("kk",) and stored.queues == ("general",)
