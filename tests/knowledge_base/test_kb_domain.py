from datetime import date

import pytest
from kb_helpers import content

from knowledge_base.domain import Action, Status, is_searchable, next_status
from knowledge_base.exceptions import IllegalTransition, InvalidEntry


def test_review_workflow_happy_path():
    status = Status.DRAFT
    for action, expected in [
        (Action.REVIEW, Status.REVIEWED),
        (Action.PUBLISH, Status.PUBLISHED),
        (Action.EXPIRE, Status.EXPIRED),
    ]:
        status = next_status(status, action)
        assert status is expected


def test_reject_sends_back_to_draft():
    assert next_status(Status.REVIEWED, Action.REJECT) is Status.DRAFT


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.DRAFT, Action.PUBLISH),  # no publishing without review
        (Status.DRAFT, Action.EXPIRE),
        (Status.PUBLISHED, Action.REVIEW),
        (Status.EXPIRED, Action.PUBLISH),
        (Status.PUBLISHED, Action.REJECT),
    ],
)
def test_illegal_transitions(status, action):
    with pytest.raises(IllegalTransition):
        next_status(status, action)


def test_validity_window_is_inclusive():
    c = content(valid_from=date(2026, 1, 1), valid_to=date(2026, 6, 30))
    assert not c.is_valid_on(date(2025, 12, 31))
    assert c.is_valid_on(date(2026, 1, 1))
    assert c.is_valid_on(date(2026, 6, 30))
    assert not c.is_valid_on(date(2026, 7, 1))


def test_only_published_and_valid_is_searchable():
    c = content(valid_to=date(2026, 6, 30))
    assert is_searchable(Status.PUBLISHED, c, date(2026, 6, 1))
    assert not is_searchable(Status.PUBLISHED, c, date(2026, 7, 1))
    assert not is_searchable(Status.REVIEWED, c, date(2026, 6, 1))


@pytest.mark.parametrize(
    "changes",
    [
        {"title": " "},
        {"answer": ""},
        {"valid_from": date(2026, 2, 1), "valid_to": date(2026, 1, 1)},
    ],
)
def test_invalid_content(changes):
    with pytest.raises(InvalidEntry):
        content(**changes)
