"""/api/v1/quality: who may list, read and score; scoring rules; audited playback."""

from __future__ import annotations

from datetime import timedelta

from app.keys import SESSIONS
from quality.services import sample_week
from tests.api.conftest import Api, add_user
from tests.conftest import MONDAY_10AM
from tests.quality.conftest import add_calls
from tests.quality.test_sampling import TZ, WEEK

FULL = {"opening": 5, "listening": 5, "policy": 3, "order_info": 5, "attitude": 5, "closing": 5}


async def _setup(api: Api, tmp_path) -> list[dict]:
    calls = [("c1", "agent", MONDAY_10AM), ("c2", "agent", MONDAY_10AM + timedelta(hours=1))]
    calls.append(("c3", "agent2", MONDAY_10AM))
    await add_user(api, username="agent2", role="agent")
    await add_calls(api, tmp_path, calls)
    answer = await api.call("POST", "/api/v1/quality/samples", "supervisor", {"week": "2026-W48"})
    assert answer == {"week": "2026-W48", "sampled": 3, "bad_rating": 0}
    page = await api.call("GET", "/api/v1/quality/reviews?week=2026-W48", "supervisor")
    assert page["total"] == 3
    return page["items"]


async def test_supervisor_scores_agent_cannot(api: Api, tmp_path):
    items = await _setup(api, tmp_path)
    mine = next(r for r in items if r["agent"] == "agent")
    assert mine["state"] == "pending" and mine["reason"] == "sampled"
    assert mine["recording"] == f"/api/v1/calls/{mine['call']}/recording"
    path = f"/api/v1/quality/reviews/{mine['id']}/score"

    # agents and other roles may not score; an agent sees none of the pending reviews
    await api.call("POST", path, "agent", {"scores": FULL}, expect=403)
    await api.call("POST", path, "dispatcher", {"scores": FULL}, expect=403)
    assert (await api.call("GET", "/api/v1/quality/reviews", "agent"))["total"] == 0
    await api.call("GET", f"/api/v1/quality/reviews/{mine['id']}", "agent", expect=404)
    await api.call("GET", "/api/v1/quality/reviews", "zjj", expect=403)

    # bad input: 400 with the JSON error, never a 500
    for body in (
        {"scores": {**FULL, "closing": 9}},
        {"scores": {k: v for k, v in FULL.items() if k != "policy"}},
        {"scores": {**FULL, "smile": 1}},
        {"scores": FULL, "extra": 1},
        {"scores": "all good"},
    ):
        error = await api.call("POST", path, "supervisor", body, expect=400)
        assert set(error["error"]) == {"code", "message"}
    await api.call("GET", "/api/v1/quality/reviews?week=2026-49", "supervisor", expect=400)
    await api.call("POST", "/api/v1/quality/samples", "supervisor", {"week": "2026-W60"}, 400)
    await api.call("POST", "/api/v1/quality/reviews/abc/score", "supervisor", {"scores": FULL}, 404)

    scored = await api.call(
        "POST", path, "supervisor", {"scores": FULL, "comment": "政策解释不完整"}
    )
    assert scored["state"] == "scored" and scored["total"] == 90.0
    assert scored["reviewer"] == "supervisor" and scored["scores"] == FULL
    # once only
    await api.call("POST", path, "admin", {"scores": FULL}, expect=409)

    # the agent sees their own scored review, not another agent's
    own = await api.call("GET", "/api/v1/quality/reviews", "agent")
    assert [r["id"] for r in own["items"]] == [mine["id"]]
    assert own["items"][0]["comment"] == "政策解释不完整"
    assert (await api.call("GET", "/api/v1/quality/reviews", "agent2"))["total"] == 0
    await api.call("GET", f"/api/v1/quality/reviews/{mine['id']}", "agent2", expect=404)
    pending = await api.call("GET", "/api/v1/quality/reviews?state=pending", "supervisor")
    assert pending["total"] == 2
    by_agent = await api.call("GET", "/api/v1/quality/reviews?agent=agent2", "supervisor")
    assert [r["agent"] for r in by_agent["items"]] == ["agent2"]


async def test_listening_to_a_sampled_recording_is_audited(api: Api, tmp_path):
    items = await _setup(api, tmp_path)
    call_id = items[0]["call"]
    resp = await api.client.get(
        items[0]["recording"], headers={"Authorization": f"Bearer {api.tokens['supervisor']}"}
    )
    assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"
    audit = await api.call("GET", "/api/v1/audit?type=recording.listen", "admin")
    assert [e["object"] for e in audit["items"]] == [call_id]


async def test_checklist_and_openapi(api: Api):
    items = (await api.call("GET", "/api/v1/quality/checklist", "agent"))["items"]
    assert [i["label"] for i in items] == [
        "开场规范",
        "倾听与记录",
        "政策解答准确",
        "工单信息完整",
        "服务态度",
        "结束语规范",
    ]
    spec = await api.call("GET", "/api/v1/openapi.json")
    assert "post" in spec["paths"]["/api/v1/quality/reviews/{id}/score"]
    assert "/api/v1/quality/samples" in spec["paths"]


async def test_sample_service_and_api_agree(api: Api, tmp_path):
    """The API's sample is the service's: a rerun through the service adds nothing."""
    await _setup(api, tmp_path)
    async with api.client.app[SESSIONS]() as session, session.begin():
        again = await sample_week(session, WEEK, 3, TZ, MONDAY_10AM)
    assert (again.sampled, again.bad_rating) == (0, 0)


async def test_agent_quality_kpi(api: Api, tmp_path):
    """qa_score: the mean total of the scored reviews of the agent's calls in the period."""
    items = await _setup(api, tmp_path)
    low = {**FULL, "policy": 0, "attitude": 0}  # 100 - 25 - 15 = 60
    totals = {}
    for review, scores in zip(
        [r for r in items if r["agent"] == "agent"], (FULL, low), strict=True
    ):
        path = f"/api/v1/quality/reviews/{review['id']}/score"
        totals[review["id"]] = (await api.call("POST", path, "supervisor", {"scores": scores}))[
            "total"
        ]
    assert sorted(totals.values()) == [60.0, 90.0]
    query = "from=2026-11-23&to=2026-11-30&group_by=agent"
    rows = (await api.call("GET", f"/api/v1/stats/kpis?{query}", "supervisor"))["rows"]
    by_agent = {r["key"]: r for r in rows}
    assert (by_agent["agent"]["qa_score"], by_agent["agent"]["qa_reviews"]) == (75.0, 2)
    # agent2's review is still pending: no score yet
    assert (by_agent["agent2"]["qa_score"], by_agent["agent2"]["qa_reviews"]) == (None, 0)
    # another period: the calls are not in it
    other = "from=2026-11-30&to=2026-12-07&group_by=agent"
    rows = (await api.call("GET", f"/api/v1/stats/kpis?{other}", "supervisor"))["rows"]
    assert all(r["qa_score"] is None for r in rows)
    # the CSV export carries the same numbers under Chinese headers
    resp = await api.client.get(
        f"/api/v1/stats/kpis.csv?{query}",
        headers={"Authorization": f"Bearer {api.tokens['supervisor']}"},
    )
    text = (await resp.read()).decode("utf-8-sig")
    header, *lines = [line.split(",") for line in text.strip().splitlines()]
    assert header[-2:] == ["质检平均分", "质检条数"]
    row = next(line for line in lines if line[0] == "agent")
    assert row[-2:] == ["75.0", "2"]
