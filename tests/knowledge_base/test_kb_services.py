from datetime import date, timedelta

import pytest
from kb_helpers import content

from knowledge_base import services
from knowledge_base.domain import Status
from knowledge_base.exceptions import EntryNotFound, IllegalTransition, InvalidEntry
from knowledge_base.live_index import KnowledgeBase
from knowledge_base.records import ImportRecord


async def test_review_workflow_with_versions(sessions):
    view = await services.create_entry(sessions, "KB-1", content(), by="author")
    assert (view.status, view.version) == (Status.DRAFT, 1)
    with pytest.raises(IllegalTransition):
        await services.publish(sessions, "KB-1", by="boss")  # not reviewed yet
    await services.review(sessions, "KB-1", by="reviewer")
    published = await services.publish(sessions, "KB-1", by="boss")
    assert published.status is Status.PUBLISHED

    edited = await services.edit_entry(
        sessions, "KB-1", content(answer="新的答复口径。"), by="author", note="政策调整"
    )
    assert (edited.status, edited.version) == (Status.DRAFT, 2)  # edits are re-reviewed
    history = await services.entry_history(sessions, "KB-1")
    assert [v.version for v in history] == [1, 2]
    assert history[0].content.answer != history[1].content.answer
    assert history[1].note == "政策调整" and history[1].created_by == "author"
    current = await services.get_entry(sessions, "KB-1")
    assert current.content.answer == "新的答复口径。"


async def test_unknown_and_duplicate_entries(sessions):
    with pytest.raises(EntryNotFound):
        await services.review(sessions, "nope", by="x")
    await services.create_entry(sessions, "KB-1", content(), by="a")
    with pytest.raises(InvalidEntry):
        await services.create_entry(sessions, "KB-1", content(), by="a")


async def test_import_is_published_and_idempotent(sessions):
    records = [ImportRecord("A", content()), ImportRecord("B", content(title="护照办理"))]
    first = await services.import_records(sessions, records)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    again = await services.import_records(sessions, records)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)

    changed = [ImportRecord("A", content(answer="改过的答复。"))]
    third = await services.import_records(sessions, changed)
    assert third.updated == 1
    view = await services.get_entry(sessions, "A")
    assert (view.status, view.version) == (Status.PUBLISHED, 2)
    assert len(await services.entry_history(sessions, "B")) == 1


async def test_expiry_by_date_and_by_hand(sessions):
    today = date(2026, 11, 23)
    records = [
        ImportRecord("old", content(valid_to=today - timedelta(days=1))),
        ImportRecord("future", content(valid_from=today + timedelta(days=1))),
        ImportRecord("now", content()),
    ]
    await services.import_records(sessions, records)
    documents = await services.searchable_documents(sessions, today)
    assert [d.external_id for d in documents] == ["now"]

    assert await services.expire_due(sessions, today) == ["old"]
    assert (await services.get_entry(sessions, "old")).status is Status.EXPIRED
    await services.expire(sessions, "now", by="admin")
    assert await services.searchable_documents(sessions, today) == []


async def test_live_index_follows_changes(sessions):
    kb = await KnowledgeBase.load(sessions)
    assert kb.search("公积金租房") == []
    await kb.import_records([ImportRecord("A", content())])
    assert [h.external_id for h in kb.search("租房提公积金")] == ["A"]

    await kb.edit("A", content(title="住房公积金租房提取"), by="author")  # back to draft
    assert kb.search("租房提公积金") == []
    await services.review(sessions, "A", by="reviewer")
    await kb.publish("A", by="boss")
    assert [h.title for h in kb.search("租房提公积金")] == ["住房公积金租房提取"]

    # A change made elsewhere (another process) is picked up by polling.
    assert not await kb.refresh_if_changed()
    await services.expire(sessions, "A", by="admin")
    assert await kb.refresh_if_changed()
    assert kb.search("租房提公积金") == []
