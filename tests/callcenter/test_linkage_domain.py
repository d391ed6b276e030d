"""应急联动's pure rules: outcomes from SIP statuses, the record's times, the order note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.domain import Actor, Role
from callcenter import domain, linkage

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(486, "busy"), (600, "busy"), (603, "busy"), (408, "no_answer"), (480, "no_answer"),
     (487, "no_answer"), (404, "failed"), (503, "failed"), (500, "failed")],
)  # fmt: skip
def test_outcome_of_a_gateway_that_did_not_answer(status, outcome):
    assert linkage.outcome_of(status) == outcome


def test_a_hand_over_keeps_its_answer_and_first_outcome():
    by = Actor("agent1", Role.SUPERVISOR)
    h = linkage.requested("119", "sip:119@gw", "transfer", by, T0, "c" * 32, None)
    assert (h.outcome, h.requested_role, h.label) == (None, "supervisor", "消防 119")
    h = linkage.answered(h, T0 + timedelta(seconds=2))
    h = linkage.ended(h, T0 + timedelta(seconds=60), linkage.FAILED)  # the answer stands
    assert (h.outcome, h.answered_at, h.ended_at) == (
        "answered",
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=60),
    )
    unanswered = linkage.ended(
        linkage.requested("110", "sip:110@gw", "conference", by, T0, None, "1"),
        T0 - timedelta(seconds=1),  # a clock step back never makes it end before it began
        linkage.BUSY,
    )
    assert (unanswered.outcome, unanswered.ended_at) == ("busy", T0)
    assert linkage.order_note(unanswered) == "应急联动:公安 110(三方通话),忙线"
    view = linkage.view(h, emergency_at=T0 - timedelta(seconds=1))
    assert view["seconds_from_mark"] == 3.0 and view["outcome_label"] == "已接通"


def test_the_emergency_mark_keeps_its_first_time():
    record = domain.offer("c" * 32, "12345", "13800138000", T0)
    marked = domain.mark_emergency(record, T0 + timedelta(seconds=5))
    again = domain.mark_emergency(marked, T0 + timedelta(seconds=9))
    assert again.emergency and again.emergency_at == T0 + timedelta(seconds=5)
