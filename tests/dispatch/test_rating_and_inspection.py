"""The citizen's 好差评 (a callback by the citizen) and the grid inspector's 现场核查,
as pure rules: no database, and the log alone always gives the state."""

from __future__ import annotations

import pytest

from accounts.domain import Role
from dispatch.exceptions import ActionForbidden, ActionRejected, IllegalTransition
from dispatch.lifecycle import RATING_SATISFACTION, Flag, Rating, Satisfaction, State
from tests.dispatch.test_lifecycle import (
    AGENT,
    DISPATCHER,
    SUPERVISOR,
    ZJJ,
    Order,
    actor,
)

CITIZEN, INSPECTOR = actor(Role.CITIZEN, name="citizen"), actor(Role.INSPECTOR, name="grid1")


def replied() -> Order:
    order = Order()
    order.later(minutes=10).do(DISPATCHER, "dispatch", unit="ZJJ")
    order.later(minutes=10).do(ZJJ, "accept")
    order.later(hours=1).do(ZJJ, "reply", text="已清理")
    return order


def callback_pending() -> Order:
    order = replied()
    order.later(minutes=30).do(SUPERVISOR, "review", approve=True)
    return order


def test_five_levels_map_onto_the_three_of_the_kpis():
    assert {r: RATING_SATISFACTION[r] for r in Rating} == {
        Rating.VERY_SATISFIED: Satisfaction.SATISFIED,
        Rating.SATISFIED: Satisfaction.SATISFIED,
        Rating.BASIC: Satisfaction.BASIC,
        Rating.DISSATISFIED: Satisfaction.DISSATISFIED,
        Rating.VERY_DISSATISFIED: Satisfaction.DISSATISFIED,
    }


def test_a_good_rating_by_the_citizen_closes_the_order_as_a_callback():
    order = callback_pending()
    view = order.later(hours=2).do(CITIZEN, "callback", rating="very_satisfied", resolved=True)
    assert view.state == State.CLOSED
    assert view.satisfaction == Satisfaction.SATISFIED and view.resolved is True
    event = order.events[-1]
    assert event.role == Role.CITIZEN and event.by == "citizen"
    assert event.data == {"rating": "very_satisfied", "satisfaction": "satisfied", "resolved": True}


def test_a_bad_rating_waits_for_verification_and_cannot_be_given_twice():
    order = callback_pending()
    view = order.do(CITIZEN, "callback", rating="very_dissatisfied", resolved=False)
    assert view.state == State.CALLBACK_PENDING and Flag.VERIFY_PENDING in view.flags
    assert view.satisfaction == Satisfaction.DISSATISFIED
    with pytest.raises(ActionRejected) as err:
        order.do(CITIZEN, "callback", rating="satisfied", resolved=True)
    assert err.value.code == "already_rated"
    # the existing 核实 path: a valid complaint reopens the order for rectification
    view = order.later(hours=1).do(SUPERVISOR, "verify", valid=True, note="属实,整改")
    assert view.state == State.DISPATCHED and view.reopen_count == 1


def test_satisfied_but_unresolved_is_a_bad_rating_too():
    order = callback_pending()
    assert order.do(CITIZEN, "callback", rating="basic", resolved=False).state == (
        State.CALLBACK_PENDING
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"resolved": True}, "invalid_rating"),
        ({"rating": "great", "resolved": True}, "invalid_rating"),
        # the three-level scale is the staff's; the citizen rates on the five levels
        ({"satisfaction": "satisfied", "resolved": True}, "invalid_rating"),
        ({"rating": "satisfied"}, "missing_resolved"),
    ],
)
def test_the_citizen_rating_needs_a_level_and_resolved(payload, code):
    order = callback_pending()
    with pytest.raises(ActionRejected) as err:
        order.do(CITIZEN, "callback", **payload)
    assert err.value.code == code


def test_the_citizen_can_rate_only_after_review():
    with pytest.raises(IllegalTransition):
        replied().do(CITIZEN, "callback", rating="satisfied", resolved=True)


def test_the_citizen_can_do_nothing_else():
    order = callback_pending()
    for action in ("verify", "reopen", "review", "inspect"):
        with pytest.raises((ActionForbidden, IllegalTransition)):
            order.do(CITIZEN, action, reason="x", note="x", valid=True, approve=True, passed=True)


def test_inspection_passed_marks_the_reply_once_and_keeps_the_state():
    order = replied()
    view = order.later(hours=1).do(INSPECTOR, "inspect", passed=True, note="现场已清理")
    assert view.state == State.REPLIED and Flag.INSPECTED in view.flags
    with pytest.raises(ActionRejected) as err:
        order.do(INSPECTOR, "inspect", passed=True)
    assert err.value.code == "already_inspected"
    # the review and the callback go on as usual
    order.do(SUPERVISOR, "review", approve=True)
    assert order.do(AGENT, "callback", satisfaction="satisfied", resolved=True).state == (
        State.CLOSED
    )


def test_inspection_not_passed_reopens_for_rectification():
    order = callback_pending()
    view = order.later(hours=1).do(INSPECTOR, "inspect", passed=False, note="垃圾仍未清理")
    assert view.state == State.DISPATCHED
    assert view.reopen_count == 1 and Flag.REOPENED in view.flags
    assert view.assignee == "ZJJ" and view.finish_due is not None
    # the next reply needs its own check
    order.do(ZJJ, "accept")
    view = order.later(hours=1).do(ZJJ, "reply", text="已再次清理")
    assert Flag.INSPECTED not in view.flags
    assert order.do(INSPECTOR, "inspect", passed=True).state == State.REPLIED


def test_inspection_needs_a_verdict_and_a_note_when_failed():
    order = replied()
    with pytest.raises(ActionRejected) as err:
        order.do(INSPECTOR, "inspect")
    assert err.value.code == "missing_passed"
    with pytest.raises(ActionRejected) as err:
        order.do(INSPECTOR, "inspect", passed=False, note=" ")
    assert err.value.code == "missing_note"


def test_only_the_inspector_inspects():
    for who in (ZJJ, SUPERVISOR, AGENT, CITIZEN):
        with pytest.raises(ActionForbidden):
            replied().do(who, "inspect", passed=True)
