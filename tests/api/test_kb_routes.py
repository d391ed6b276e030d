"""Knowledge-base routes: review workflow through HTTP, live search, order suggestions."""

from __future__ import annotations

ENTRY = {
    "id": "kb-gjj-001",
    "title": "住房公积金提取办理指南",
    "questions": ["公积金怎么提取", "租房可以取公积金吗"],
    "answer": "租房提取公积金可通过公积金中心网上大厅办理,需提供租赁合同。",
    "category": "ZF.GJJ",
    "unit": "GJJ",
}


async def test_entry_workflow_and_search(api):
    created = await api.call("POST", "/api/v1/kb/entries", "supervisor", ENTRY, expect=201)
    assert created["status"] == "draft" and created["version"] == 1
    hits = await api.call("GET", "/api/v1/kb/search?q=公积金怎么取", "agent")
    assert hits["items"] == []  # a draft is not searchable

    await api.call(
        "POST", "/api/v1/kb/entries/kb-gjj-001/publish", "supervisor", {}, expect=409
    )  # must be reviewed first
    await api.call("POST", "/api/v1/kb/entries/kb-gjj-001/review", "supervisor", {})
    published = await api.call(
        "POST", "/api/v1/kb/entries/kb-gjj-001/publish", "supervisor", {"note": "口径已确认"}
    )
    assert published["status"] == "published"
    hits = await api.call("GET", "/api/v1/kb/search?q=租房咋取公积金", "agent")
    assert hits["items"][0]["id"] == "kb-gjj-001" and "租赁合同" in hits["items"][0]["answer"]

    # a registered order proposes the answer
    order = await api.register(content="我租房子住,想把公积金取出来怎么办", type="consultation")
    assert order["suggestions"]["kb"][0]["id"] == "kb-gjj-001"

    edited = await api.call(
        "PUT",
        "/api/v1/kb/entries/kb-gjj-001",
        "supervisor",
        {k: v for k, v in ENTRY.items() if k != "id"} | {"answer": "新口径:租房提取每年一次。"},
    )
    assert edited["version"] == 2 and edited["status"] == "draft"
    detail = await api.call("GET", "/api/v1/kb/entries/kb-gjj-001", "agent")
    assert [v["version"] for v in detail["history"]] == [1, 2]

    await api.call("POST", "/api/v1/kb/entries", "agent", ENTRY | {"id": "x"}, expect=403)
    await api.call("GET", "/api/v1/kb/entries/nope", "agent", expect=404)
    err = await api.call(
        "POST", "/api/v1/kb/entries", "supervisor", ENTRY | {"questions": []}, expect=400
    )
    assert err["error"]["code"] == "validation_error"
    await api.call("GET", "/api/v1/kb/search?q=", "agent", expect=400)
