"""Agents' softphone passwords (callcenter/softphones.py): only the digest HA1 values
Kamailio checks are stored, set by an admin or the agent themself, and audited.
The registration itself through Kamailio: tests/cluster/test_cluster.py."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from app.factory import create_app
from app.keys import SESSIONS
from callcenter import softphones
from callcenter.storage import SipCredential
from config import SipSettings
from tests.api.conftest import Api, add_user, seed
from tests.conftest import make_settings

PATH = "/api/v1/agents/{}/sip-password"


@pytest.fixture
async def api(aiohttp_client, sqlite_url, clock):
    app = create_app(make_settings(sqlite_url), now=clock, scanner=False)
    api = Api(await aiohttp_client(app))
    await seed(api)
    await add_user(api, username="agent2", role="agent", unit=None, hotlines=None)
    return api


async def credentials(api: Api) -> list[SipCredential]:
    async with api.client.server.app[SESSIONS]() as session:
        return list((await session.scalars(select(SipCredential))).all())


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def test_agent_sets_own_password_kept_as_ha1_only(api: Api):
    answer = await api.call("PUT", PATH.format("agent"), "agent", {"password": "Sip-pass-1"})
    assert (answer["username"], answer["realm"]) == ("agent", "hotline.local")
    [row] = await credentials(api)
    assert row.ha1 == md5("agent:hotline.local:Sip-pass-1")
    assert row.ha1b == md5("agent@hotline.local:hotline.local:Sip-pass-1")
    # An admin replaces it: still one row per agent and realm.
    await api.call("PUT", PATH.format("agent"), "admin", {"password": "Other-pass-2"})
    [row] = await credentials(api)
    assert row.ha1 == md5("agent:hotline.local:Other-pass-2")
    async with api.client.server.app[SESSIONS]() as session:
        lines = (
            await session.scalars(select(AuditEntry).where(AuditEntry.event == "password.sip"))
        ).all()
    assert [(a.actor, a.object, a.result) for a in lines] == [
        ("agent", "agent", "success"),
        ("admin", "agent", "success"),
    ]
    assert all("Sip-pass-1" not in str(a.detail) for a in lines)


@pytest.mark.parametrize(
    ("user", "target", "password", "status", "code"),
    [
        ("agent", "agent2", "Sip-pass-1", 403, "forbidden"),  # someone else's
        ("supervisor", "agent", "Sip-pass-1", 403, "forbidden"),  # role not allowed
        ("admin", "supervisor", "Sip-pass-1", 404, "agent_not_found"),  # not an agent
        ("admin", "nobody", "Sip-pass-1", 404, "agent_not_found"),
        ("agent", "agent", "short", 400, "invalid_sip_password"),
        ("agent", "agent", "12345678", 400, "invalid_sip_password"),
        ("agent", "agent", "含中文的密码abc", 400, "invalid_sip_password"),
        ("agent", "agent", "with space1", 400, "invalid_sip_password"),
    ],
)
async def test_bad_password_changes_are_json_errors(api: Api, user, target, password, status, code):
    body = await api.call("PUT", PATH.format(target), user, {"password": password}, expect=status)
    assert body["error"]["code"] == code
    assert await credentials(api) == []


def test_agents_are_called_through_the_registrar_when_one_is_set():
    assert softphones.registered_uri(SipSettings(), "agent") is None
    settings = SipSettings(registrar="127.0.0.1:5070")
    assert softphones.registered_uri(settings, "agent") == "sip:agent@127.0.0.1:5070"
