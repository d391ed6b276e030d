"""The call centre's pure rules: hotline identification and call record states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter import domain
from callcenter.domain import Invite, NumberSource, Outcome
from callcenter.exceptions import IllegalCallTransition

NUMBERS = {"12345", "12319", "12358", "12350"}
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

INVITE = (
    "INVITE sip:12319@10.0.0.5:5060;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-1\r\n"
    'f: "Citizen" <sip:13800138000@10.0.0.9>;tag=abc\r\n'
    "t: <sip:12319@10.0.0.5>\r\n"
    "i: 1-2-3@10.0.0.9\r\n"
    "Diversion: <sip:12345@gw.example>;reason=unconditional,\r\n"
    " <tel:+86-571-12358>;reason=no-answer\r\n"
    "Diversion: <sip:0000@gw.example>\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
    "v=0\r\n"
)


def test_parse_invite_reads_request_line_compact_and_folded_headers():
    invite = domain.parse_invite(INVITE)
    assert invite.request_uri == "sip:12319@10.0.0.5:5060;user=phone"
    assert invite.from_ == '"Citizen" <sip:13800138000@10.0.0.9>;tag=abc'
    assert invite.to == "<sip:12319@10.0.0.5>"
    assert invite.call_id == "1-2-3@10.0.0.9"
    assert invite.diversions == (
        "<sip:12345@gw.example>;reason=unconditional",
        "<tel:+86-571-12358>;reason=no-answer",
        "<sip:0000@gw.example>",
    )


def test_parse_invite_tolerates_garbage():
    assert domain.parse_invite("") == Invite(request_uri="")
    assert domain.parse_invite("NONSENSE\n\nbody").request_uri == ""


@pytest.mark.parametrize(
    ("value", "user"),
    [
        ("sip:12345@host", "12345"),
        ("<sips:12345@host:5061;transport=tls>;tag=x", "12345"),
        ('"张三" <sip:+86-138 0013 8000@host;user=phone>', "+8613800138000"),
        ("tel:+86-571-12345;phone-context=+86", "+8657112345"),
        ("sip:123%34%35@host", "12345"),
        ("sip:12345;isub=1:secret@host", "12345"),
        ("sip:host.example", ""),
        ("http://12345@host", ""),
        ("", ""),
    ],
)
def test_uri_user(value, user):
    assert domain.uri_user(value) == user


@pytest.mark.parametrize(
    ("user", "number"),
    [
        ("12345", "12345"),
        ("+8612345", "12345"),
        ("008612319", "12319"),
        ("057112345", "12345"),  # area code, dialled from another city
        ("+8657112345", "12345"),
        ("0101234", None),
        ("123456", None),
        ("", None),
    ],
)
def test_match_number(user, number):
    assert domain.match_number(user, NUMBERS) == number


def test_request_uri_wins_then_to_then_diversion():
    invite = domain.parse_invite(INVITE)
    assert domain.identify_hotline(invite, NUMBERS) == domain.HotlineMatch(
        "12319", NumberSource.REQUEST_URI
    )
    trunk = Invite(request_uri="sip:intake@10.0.0.5", to="<sip:12350@10.0.0.5>")
    assert domain.identify_hotline(trunk, NUMBERS) == domain.HotlineMatch("12350", NumberSource.TO)
    forwarded = Invite(
        request_uri="sip:9000@10.0.0.5",
        to="<sip:9000@10.0.0.5>",
        diversions=invite.diversions,
    )
    # The first (most recent) Diversion names the number the citizen dialled.
    assert domain.identify_hotline(forwarded, NUMBERS) == domain.HotlineMatch(
        "12345", NumberSource.DIVERSION
    )


def test_unknown_number_is_not_a_hotline():
    invite = Invite(request_uri="sip:99999@h", to="<sip:99999@h>", diversions=("<sip:1@h>",))
    assert domain.identify_hotline(invite, NUMBERS) is None
    assert domain.dialled_number(invite) == "99999"


def test_caller_prefers_asserted_identity():
    invite = Invite(
        request_uri="sip:12345@h",
        from_="<sip:anonymous@anonymous.invalid>",
        asserted_identity="<tel:13800138000>",
    )
    assert domain.caller_number(invite) == "13800138000"
    assert domain.caller_number(Invite(request_uri="", from_="<sip:139@h>")) == "139"
    assert domain.caller_number(Invite(request_uri="")) == "anonymous"


def test_answered_call_completes_with_wait_and_talk_time():
    record = domain.offer("r1", "12345", "13800138000", T0, "cid")
    assert record.state is domain.CallState.OFFERED and record.wait_seconds is None
    record = domain.answer(record, T0 + timedelta(seconds=1))
    record = domain.attach_recording(record, "/rec/r1.wav")
    # The IVR's answer is not 接通: the KPIs count from the agent's answer.
    assert record.state is domain.CallState.ANSWERED and record.wait_seconds is None
    record = domain.enqueue(record, "general", T0 + timedelta(seconds=2))
    record = domain.agent_answered(record, "agent1", T0 + timedelta(seconds=3))
    # A blind transfer: the next agent takes over a call already answered.
    moved = domain.agent_answered(record, "agent2", T0 + timedelta(seconds=40))
    assert (moved.agent, moved.answered_at) == ("agent2", record.answered_at)
    record = domain.end(record, T0 + timedelta(seconds=63))
    assert record.state is domain.CallState.ENDED
    assert record.outcome is Outcome.COMPLETED
    assert (record.wait_seconds, record.talk_seconds) == (3, 60)
    assert (record.agent, record.queue_wait_seconds) == ("agent1", 1)
    assert record.recording == "/rec/r1.wav"


def test_ivr_only_call_completes_without_an_answer_for_the_kpis():
    record = domain.answer(domain.offer("r1", "12345", "1", T0), T0 + timedelta(seconds=1))
    record = domain.end(record, T0 + timedelta(seconds=30))
    assert record.outcome is Outcome.COMPLETED
    assert (record.answered_at, record.wait_seconds, record.talk_seconds) == (None, None, None)
    assert record.ivr_answered_at == T0 + timedelta(seconds=1)


def test_caller_hanging_up_first_is_abandoned_and_failures_are_not():
    record = domain.offer("r1", "12345", "1", T0)
    assert domain.end(record, T0 + timedelta(seconds=9)).outcome is Outcome.ABANDONED
    assert domain.end(record, T0, failed=True).outcome is Outcome.FAILED


def test_illegal_call_transitions():
    record = domain.offer("r1", "12345", "1", T0)
    with pytest.raises(IllegalCallTransition):
        domain.attach_recording(record, "x.wav")
    answered = domain.answer(record, T0)
    with pytest.raises(IllegalCallTransition):
        domain.answer(answered, T0)
    ended = domain.end(answered, T0)
    with pytest.raises(IllegalCallTransition):
        domain.end(ended, T0)


def test_clock_skew_never_gives_negative_durations():
    record = domain.offer("r1", "12345", "1", T0)
    record = domain.answer(record, T0 - timedelta(seconds=1))
    record = domain.agent_answered(record, "a", T0 - timedelta(seconds=1))
    record = domain.end(record, T0 - timedelta(1))
    assert record.wait_seconds == 0 and record.talk_seconds == 0


def test_three_way_keeps_the_first_join_and_needs_an_agent_on_the_call():
    record = domain.enqueue(domain.answer(domain.offer("c1", "12345", "1", T0), T0), "general", T0)
    with pytest.raises(IllegalCallTransition):  # still queued: no agent to add a unit to
        domain.three_way(record, "sip:u@h", "CGJ", T0)
    record = domain.agent_answered(record, "agent", T0 + timedelta(seconds=5))
    first = domain.three_way(record, "sip:u@h", "CGJ", T0 + timedelta(seconds=30))
    assert (first.three_way_at, first.conference_unit) == (T0 + timedelta(seconds=30), "CGJ")
    second = domain.three_way(first, "sip:v@h", None, T0 + timedelta(seconds=90))
    assert second.three_way_at == first.three_way_at  # the first time a unit joined
    assert (second.conference_uri, second.conference_unit) == ("sip:v@h", None)
    ended = domain.end(second, T0 + timedelta(seconds=120))
    with pytest.raises(IllegalCallTransition):
        domain.three_way(ended, "sip:u@h", None, T0 + timedelta(seconds=130))
