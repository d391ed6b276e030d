"""外呼任务: the key machine (pure), the admin API (targets, do-not-call, states, results,
export, audit), and a campaign called out over real SIP to SIPp answering and pressing
keys."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from openpyxl import load_workbook
from sqlalchemy import select

from app.factory import create_app
from app.keys import CALLCENTER, SESSIONS
from callcenter import campaigns
from callcenter.campaigns import INTRO, KEY_TIMER, THANKS, CallPhase, CampaignCall
from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from callcenter.prompts import hold_music
from callcenter.storage import Campaign, CampaignTarget
from tests.api.conftest import Api, seed
from tests.api.test_audit import last
from tests.callcenter.conftest import answer_scenario, start_sipp_uas
from tests.conftest import make_settings

OPTIONS = [{"1": "满意", "2": "不满意"}, {"1": "支持", "2": "反对", "3": "无所谓"}]
BODY = {
    "name": "垃圾分类民意调查",
    "kind": "poll",
    "intro": "您好,这里是一二三四五热线,耽误您一分钟做个调查。",
    "questions": [
        {"text": "您对小区垃圾分类满意吗?", "options": OPTIONS[0]},
        {"text": "您是否支持定时定点投放?", "options": OPTIONS[1]},
    ],
    "hours": [0, 24],
    "attempts": 2,
    "retry_minutes": 0,
    "pace_per_minute": 600,
    "max_concurrent": 20,
}


def test_keys_answer_each_question_in_turn_then_thanks():
    call = CampaignCall(OPTIONS)
    assert call.digit("1") == []  # nothing asked yet
    assert call.start() == [Play((INTRO,))]
    assert call.digit("1") == []  # the introduction is not a question
    assert call.prompt_finished(INTRO) == [Play(("q1",))]
    assert call.prompt_finished("q1") == [StartTimer(KEY_TIMER, call.key_timeout)]
    assert call.digit("2") == [CancelTimer(KEY_TIMER), Play(("q2",))]
    assert call.digit("3") == [CancelTimer(KEY_TIMER), Play((THANKS,))]
    assert call.answers == {"0": "2", "1": "3"}
    assert call.prompt_finished(THANKS) == [Hangup()] and call.phase is CallPhase.DONE
    assert campaigns.outcome(call.answers, 2) == "done"


def test_a_wrong_key_or_silence_replays_once_then_the_call_ends_with_what_it_has():
    call = CampaignCall(OPTIONS)
    call.start()
    call.prompt_finished(INTRO)
    call.digit("1")
    assert call.digit("9") == [CancelTimer(KEY_TIMER), Play(("q2",))]
    assert call.timer(KEY_TIMER) == [CancelTimer(KEY_TIMER), Hangup()]
    assert campaigns.outcome(call.answers, 2) == "partial"
    assert campaigns.outcome({}, 2) == ""


def test_csv_uploads_take_the_phone_column_or_the_first():
    assert campaigns.parse_phones("\ufeff姓名,电话\n张三,13800138000\n李四,13900139000\n") == [
        "13800138000",
        "13900139000",
    ]
    assert campaigns.parse_phones("13800138000\n\n13700137000,x\n") == [
        "13800138000",
        "13700137000",
    ]


@pytest.fixture
async def client(aiohttp_client, any_db_url, clock, sip_tools, sip_settings, tmp_path):
    settings = make_settings(any_db_url)
    settings.web.session_key = Fernet.generate_key().decode()
    settings.sip = sip_settings.model_copy(
        update={
            "enabled": True,
            "survey_uri": "sip:{phone}@127.0.0.1:9",  # each test points it somewhere
            "survey_interval_seconds": 0,
            "campaign_interval_seconds": 0,  # the test drives the dialer
            "survey_ring_seconds": 3,
            "prompts_dir": str(tmp_path / "prompts"),
        }
    )
    return await aiohttp_client(create_app(settings, now=clock, scanner=False))


async def make_api(client) -> Api:
    api = Api(client)
    await seed(api)
    return api


def short_prompts(client, campaign_id: int) -> None:
    """The synthesised prompts replaced by 0.3 s of tone, so the test's keys fit."""
    settings = client.app[CALLCENTER].settings
    for wav in campaigns.prompts_dir(settings, campaign_id).glob("*.wav"):
        wav.write_bytes(hold_music(0.3))


async def test_campaign_api_targets_do_not_call_states_and_bad_input(client):
    api = await make_api(client)
    await api.call("POST", "/api/v1/campaigns", "agent", BODY, expect=403)
    bad_hours = {**BODY, "hours": [20, 9]}
    await api.call("POST", "/api/v1/campaigns", "admin", bad_hours, expect=400)
    bad_key = {**BODY, "questions": [{"text": "?", "options": {"*": "x"}}]}
    await api.call("POST", "/api/v1/campaigns", "admin", bad_key, expect=400)
    campaign = await api.call("POST", "/api/v1/campaigns", "admin", BODY, expect=201)
    cid = campaign["id"]
    directory = campaigns.prompts_dir(client.app[CALLCENTER].settings, cid)
    assert sorted(p.name for p in directory.glob("*.wav")) == [
        "intro.wav",
        "q1.wav",
        "q2.wav",
        "thanks.wav",
    ]
    await api.call("PUT", "/api/v1/do-not-call/13700137000", "admin", {"reason": "本人要求"})
    await api.call("PUT", "/api/v1/do-not-call/abc", "admin", {}, expect=400)
    added = await api.call(
        "POST",
        f"/api/v1/campaigns/{cid}/targets",
        "admin",
        {"phones": ["13800138000", "13800138000", "13700137000", "12x", "13900139000"]},
    )
    assert added == {"added": 2, "duplicates": 1, "invalid": 1, "do_not_call": 1}
    more = await api.call(
        "POST", f"/api/v1/campaigns/{cid}/targets", "admin", {"csv": "phone\n13800138000\n"}
    )
    assert (more["added"], more["duplicates"]) == (0, 1)
    both = {"phones": ["1"], "csv": "x"}
    await api.call("POST", f"/api/v1/campaigns/{cid}/targets", "admin", both, expect=400)
    await api.call("POST", "/api/v1/campaigns/999/start", "admin", expect=404)
    await api.call("POST", "/api/v1/campaigns/x1/start", "admin", expect=404)
    await api.call("POST", f"/api/v1/campaigns/{cid}/pause", "admin", expect=409)  # a draft
    intro = directory / "intro.wav"
    intro.rename(intro.with_suffix(".bak"))  # a prompt missing: it cannot start
    await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin", expect=409)
    intro.with_suffix(".bak").rename(intro)
    started = await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin")
    assert started["state"] == "running"
    await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin", expect=409)
    detail = await api.call("GET", f"/api/v1/campaigns/{cid}", "supervisor")
    assert detail["results"]["targets"]["pending"] == 2
    assert detail["results"]["targets"]["dnc"] == 1
    line = await last(api, "campaign")
    assert (line["subject"], line["object"], line["detail"]["action"]) == (
        "admin",
        str(cid),
        "start",
    )
    listing = await api.call("GET", "/api/v1/campaigns", "supervisor")
    assert [c["id"] for c in listing["items"]] == [cid] and listing["total"] == 1
    assert (listing["items"][0]["targets"], listing["items"][0]["settled"]) == (3, 1)


async def test_a_campaign_called_out_to_sipp_pressing_keys(client, tmp_path):
    api = await make_api(client)
    center = client.app[CALLCENTER]
    phones = [f"1380013{i:04d}" for i in range(6)]
    scenario = answer_scenario(tmp_path, "answer12", "12")
    uas, port = await start_sipp_uas(scenario, len(phones), tmp_path)
    center.settings.survey_uri = f"sip:{{phone}}@127.0.0.1:{port}"
    try:
        body = {**BODY, "max_concurrent": 4}
        cid = (await api.call("POST", "/api/v1/campaigns", "admin", body, expect=201))["id"]
        short_prompts(client, cid)
        await api.call("POST", f"/api/v1/campaigns/{cid}/targets", "admin", {"phones": phones})
        await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin")
        dialer = center.campaigns
        assert await dialer.run_once() == 4  # max_concurrent
        assert await dialer.run_once() == 0  # all four still up
        for _ in range(100):
            await dialer.run_once()
            async with client.app[SESSIONS]() as session:
                states = list(await session.scalars(select(CampaignTarget.state)))
            if all(s == "done" for s in states):
                break
            await asyncio.sleep(0.2)
        await asyncio.wait_for(dialer.wait_idle(), 20)
        await dialer.run_once()  # nothing left: the campaign is done
        out, _ = await asyncio.wait_for(uas.communicate(), 30)
        assert uas.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        if uas.returncode is None:
            uas.kill()
            await uas.wait()
    detail = await api.call("GET", f"/api/v1/campaigns/{cid}", "admin")
    assert detail["state"] == "done"
    assert detail["results"]["targets"]["done"] == len(phones), detail["results"]
    [q1, q2] = detail["results"]["questions"]
    assert [(o["key"], o["count"]) for o in q1["options"]] == [("1", 6), ("2", 0)]
    assert [(o["key"], o["count"]) for o in q2["options"]] == [("1", 0), ("2", 6), ("3", 0)]
    token = await api.login_once("supervisor")
    response = await api.client.get(
        f"/api/v1/campaigns/{cid}/export", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    sheet = load_workbook(io.BytesIO(await response.read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("号码", "状态", "呼叫次数") and len(rows) == 1 + len(phones)
    assert rows[1][1:] == ("done", 1, "满意", "反对") and "****" in rows[1][0]
    async with client.app[SESSIONS]() as session:
        campaign = await session.get(Campaign, cid)
        assert campaign.state == "done"


async def test_unanswered_numbers_are_retried_then_failed(client):
    api = await make_api(client)
    center = client.app[CALLCENTER]
    center.settings.survey_uri = "sip:{phone}@127.0.0.1:9"  # nobody there
    cid = (await api.call("POST", "/api/v1/campaigns", "admin", BODY, expect=201))["id"]
    await api.call("POST", f"/api/v1/campaigns/{cid}/targets", "admin", {"phones": ["13800138000"]})
    await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin")
    dialer = center.campaigns
    for attempt in (1, 2):
        assert await dialer.run_once() == 1
        await asyncio.wait_for(dialer.wait_idle(), 20)
        async with client.app[SESSIONS]() as session:
            [target] = list(await session.scalars(select(CampaignTarget)))
        assert target.attempts == attempt
    assert target.state == "failed" and target.answers == {}
    assert await dialer.run_once() == 0


async def test_a_number_put_on_the_do_not_call_list_after_the_upload_is_not_called(
    client, tmp_path: Path
):
    api = await make_api(client)
    center = client.app[CALLCENTER]
    cid = (await api.call("POST", "/api/v1/campaigns", "admin", BODY, expect=201))["id"]
    await api.call("POST", f"/api/v1/campaigns/{cid}/targets", "admin", {"phones": ["13800138000"]})
    await api.call("PUT", "/api/v1/do-not-call/13800138000", "admin", {"reason": "投诉骚扰"})
    await api.call("POST", f"/api/v1/campaigns/{cid}/start", "admin")
    assert await center.campaigns.run_once() == 0
    detail = await api.call("GET", f"/api/v1/campaigns/{cid}", "admin")
    assert detail["results"]["targets"]["dnc"] == 1
    await center.campaigns.run_once()
    assert (await api.call("GET", f"/api/v1/campaigns/{cid}", "admin"))["state"] == "done"
    dnc = await api.call("GET", "/api/v1/do-not-call", "admin")
    assert dnc["items"][0]["reason"] == "投诉骚扰"
    await api.call("DELETE", "/api/v1/do-not-call/13800138000", "admin")
    await api.call("DELETE", "/api/v1/do-not-call/13800138000", "admin", expect=404)


async def test_numbers_left_calling_by_a_stopped_process_are_due_again(client):
    api = await make_api(client)
    dialer = client.app[CALLCENTER].campaigns
    cid = (await api.call("POST", "/api/v1/campaigns", "admin", BODY, expect=201))["id"]
    await api.call("POST", f"/api/v1/campaigns/{cid}/targets", "admin", {"phones": ["13800138000"]})
    async with client.app[SESSIONS].begin() as session:
        [target] = list(await session.scalars(select(CampaignTarget)))
        target.state, target.attempts = "calling", 1  # the process died mid-call
    await dialer.recover()
    async with client.app[SESSIONS]() as session:
        [target] = list(await session.scalars(select(CampaignTarget)))
    assert (target.state, target.attempts) == ("pending", 1)
    assert client.app[CALLCENTER].outbound == [client.app[CALLCENTER].survey, dialer]
