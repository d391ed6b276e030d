"""The call centre's rules, free of SIP stacks and databases.

- Which hotline a call is for: the dialled number (Request-URI user part), with the
  To header and Diversion headers (forwarded calls) as fallbacks.
- Who is calling: P-Asserted-Identity, else From.
- A call record's life cycle (话单/CDR): offered → IVR-answered → [queued → answered by
  an agent (`answered_at`, the KPIs' 接通)] → ended, or offered → ended (abandoned: the
  caller hung up before an answer). Hanging up while queued is abandoned too; a
  callback-list entry ends it as `callback`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from callcenter.exceptions import IllegalCallTransition

# ------------------------------------------------------------------ SIP messages


@dataclass(frozen=True)
class Invite:
    """The parts of an incoming INVITE the call centre decides on."""

    request_uri: str
    to: str = ""
    from_: str = ""
    asserted_identity: str = ""
    diversions: tuple[str, ...] = ()
    call_id: str = ""


# Compact header forms (RFC 3261 §7.3.3) for the headers we read.
_COMPACT = {"t": "to", "f": "from", "i": "call-id"}


def parse_invite(message: str) -> Invite:
    """Read the request line and headers of a SIP request as pjsip received it."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    lines = head.split("\n")
    parts = lines[0].split()
    request_uri = parts[1] if len(parts) >= 3 else ""
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            last = next(reversed(headers))
            headers[last][-1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        headers.setdefault(_COMPACT.get(name, name), []).append(value.strip())

    def first(name: str) -> str:
        return headers.get(name, [""])[0]

    diversions = tuple(
        item for value in headers.get("diversion", []) for item in _split_header_list(value)
    )
    return Invite(
        request_uri=request_uri,
        to=first("to"),
        from_=first("from"),
        asserted_identity=first("p-asserted-identity"),
        diversions=diversions,
        call_id=first("call-id"),
    )


def _split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas inside <> and quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append(value[start:i].strip())
            start = i + 1
    items.append(value[start:].strip())
    return [item for item in items if item]


_URI_IN_BRACKETS = re.compile(r"<([^>]*)>")
_VISUAL_SEPARATORS = re.compile(r"[-.()\s]")


def uri_user(value: str) -> str:
    """The user part of a SIP/tel URI or a name-addr header value ('' if none).

    `"Zhang" <sip:+86-138 0000 0000@host;user=phone>;tag=1` → `+8613800000000`.
    """
    match = _URI_IN_BRACKETS.search(value)
    # A bare URI keeps its user parameters (sip:+123;npdi@host); header parameters
    # (;tag=) come after the host, where the user part has already ended.
    uri = (match.group(1) if match else value).strip()
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        return ""
    if scheme.lower() == "tel":
        user = rest.split(";", 1)[0]
    else:
        user, at, _host = rest.partition("@")
        if not at:
            return ""
        user = user.split(";", 1)[0].split(":", 1)[0]  # user params, password
    return _VISUAL_SEPARATORS.sub("", _unescape(user))


def _unescape(user: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), user)


# A dialled number may carry the country code (+86, 0086) or a trunk-prefixed area
# code (010, 0571) in front of the short hotline number.
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086)")
_AREA_CODE = re.compile(r"^0\d{2,3}")


def match_number(user: str, numbers: Collection[str]) -> str | None:
    """The known hotline number that `user` dials, if any."""
    if not user:
        return None
    candidates = [user]
    national = _COUNTRY_PREFIX.sub("", user)
    if national != user:
        candidates.append(national)
        national = "0" + national  # +86 571 12345 is dialled 0571 12345 at home
    area = _AREA_CODE.match(national)
    if area:
        candidates.append(national[area.end() :])
    return next((c for c in candidates if c in numbers), None)


class NumberSource(StrEnum):
    """Where the hotline number of a call was found."""

    REQUEST_URI = "request_uri"
    TO = "to"
    DIVERSION = "diversion"


@dataclass(frozen=True)
class HotlineMatch:
    number: str
    source: NumberSource


def identify_hotline(invite: Invite, numbers: Collection[str]) -> HotlineMatch | None:
    """Which hotline was dialled: Request-URI, then To, then Diversion headers.

    The Request-URI is what the caller's network routed on; To is what the caller's
    phone shows; a forwarded call (呼叫前转) carries the originally dialled number in
    Diversion (the first header is the most recent diversion, so it is tried first).
    """
    sources: Iterable[tuple[NumberSource, str]] = [
        (NumberSource.REQUEST_URI, invite.request_uri),
        (NumberSource.TO, invite.to),
        *((NumberSource.DIVERSION, value) for value in invite.diversions),
    ]
    for source, value in sources:
        number = match_number(uri_user(value), numbers)
        if number is not None:
            return HotlineMatch(number, source)
    return None


def caller_number(invite: Invite) -> str:
    """The calling number: the network-asserted identity when present, else From."""
    return uri_user(invite.asserted_identity) or uri_user(invite.from_) or "anonymous"


def dialled_number(invite: Invite) -> str:
    """What the caller dialled, as written in the request (for log lines)."""
    return uri_user(invite.request_uri) or invite.request_uri


# ------------------------------------------------------------------ call records


class CallState(StrEnum):
    OFFERED = "offered"
    ANSWERED = "answered"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a call ended (the `outcome` of a call record)."""

    COMPLETED = "completed"  # answered, then hung up by either side
    ABANDONED = "abandoned"  # 放弃: the caller hung up before an answer
    FAILED = "failed"  # never answered through no choice of the caller (media/SIP error)
    CALLBACK = "callback"  # ended with a callback-list entry (asked for one, or overflow)


@dataclass(frozen=True)
class CallRecord:
    """One call as the KPIs see it (接通率, ASA, abandonment)."""

    id: str
    hotline: str
    caller: str
    offered_at: datetime
    sip_call_id: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    agent: str | None = None
    outcome: Outcome | None = None
    order_number: str | None = None
    recording: str | None = None
    intake: str = ""  # the intake node that took the call
    queue: str | None = None  # the queue the IVR put the caller in
    queued_at: datetime | None = None
    ivr_answered_at: datetime | None = None  # the intake's answer (IVR); not a KPI answer
    emergency: bool = False
    emergency_at: datetime | None = None  # first marked (the start of 应急联动's clock)
    # 三方通话: when a unit's phone first joined the call, and the last one that did.
    three_way_at: datetime | None = None
    conference_uri: str | None = None
    conference_unit: str | None = None  # the unit's code, when the agent gave one
    language: str | None = None  # 多语种: the language the caller is served in; None: 普通话

    @property
    def queue_wait_seconds(self) -> float | None:
        """Seconds in the queue: until an agent answered, else until the end of the call."""
        if self.queued_at is None:
            return None
        until = self.answered_at or self.ended_at
        if until is None:
            return None
        return (until - self.queued_at).total_seconds()

    @property
    def state(self) -> CallState:
        if self.ended_at is not None:
            return CallState.ENDED
        up = self.answered_at is not None or self.ivr_answered_at is not None
        return CallState.ANSWERED if up else CallState.OFFERED

    @property
    def wait_seconds(self) -> float | None:
        """Seconds from offer to answer (the input of ASA and the 15-second level)."""
        if self.answered_at is None:
            return None
        return (self.answered_at - self.offered_at).total_seconds()

    @property
    def talk_seconds(self) -> float | None:
        if self.answered_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.answered_at).total_seconds()


def offer(
    record_id: str,
    hotline: str,
    caller: str,
    at: datetime,
    sip_call_id: str = "",
    intake: str = "",
) -> CallRecord:
    """A call reached the intake for a known hotline (来电)."""
    return CallRecord(record_id, hotline, caller, at, sip_call_id=sip_call_id, intake=intake)


def answer(record: CallRecord, at: datetime) -> CallRecord:
    """The intake answered the call for its IVR (not yet 接通 for the KPIs)."""
    if record.state is not CallState.OFFERED:
        raise IllegalCallTransition(record.id, record.state.value, "answer")
    return replace(record, ivr_answered_at=max(at, record.offered_at))


def agent_answered(record: CallRecord, agent: str, at: datetime) -> CallRecord:
    """接通: an agent answered the caller waiting in a queue (`answered_at`, ASA).

    After a blind transfer the next agent takes the call over; it was answered already.
    """
    if record.state is not CallState.ANSWERED:
        raise IllegalCallTransition(record.id, record.state.value, "connect")
    if record.agent is not None:
        return replace(record, agent=agent)
    start = record.queued_at or record.ivr_answered_at or record.offered_at
    return replace(record, agent=agent, answered_at=max(at, start))


def mark_emergency(record: CallRecord, at: datetime) -> CallRecord:
    """紧急转接: the call was marked for an emergency hand-over (the first time is kept)."""
    return replace(record, emergency=True, emergency_at=record.emergency_at or at)


def three_way(record: CallRecord, uri: str, unit: str | None, at: datetime) -> CallRecord:
    """三方通话: a unit's phone joined the agent's call (the first time is kept)."""
    if record.state is not CallState.ANSWERED or record.agent is None:
        raise IllegalCallTransition(record.id, record.state.value, "add a unit")
    first = record.three_way_at or max(at, record.answered_at or at)
    return replace(record, three_way_at=first, conference_uri=uri, conference_unit=unit)


def attach_recording(record: CallRecord, path: str) -> CallRecord:
    """The call is being recorded to `path` (录音)."""
    if record.state is not CallState.ANSWERED:
        raise IllegalCallTransition(record.id, record.state.value, "record")
    return replace(record, recording=path)


def enqueue(
    record: CallRecord, queue: str, at: datetime, language: str | None = None
) -> CallRecord:
    """The IVR put the (answered) caller in a queue to wait for an agent (排队), to be
    served in `language` (None: 普通话)."""
    if record.state is not CallState.ANSWERED:
        raise IllegalCallTransition(record.id, record.state.value, "enqueue")
    queued_at = max(at, record.ivr_answered_at or at)
    return replace(record, queue=queue, queued_at=queued_at, language=language)


def end(
    record: CallRecord, at: datetime, failed: bool = False, callback: bool = False
) -> CallRecord:
    """The call is over; its outcome follows from how far it got.

    Answered by the intake (IVR) and hung up there: completed. Hung up while waiting
    in a queue with no agent: abandoned. Ended with a callback entry: callback.
    """
    if record.state is CallState.ENDED:
        raise IllegalCallTransition(record.id, record.state.value, "end")
    if callback:
        outcome = Outcome.CALLBACK
    elif record.queued_at is not None and record.agent is None:
        outcome = Outcome.ABANDONED
    elif record.answered_at is not None or record.ivr_answered_at is not None:
        outcome = Outcome.COMPLETED
    else:
        outcome = Outcome.FAILED if failed else Outcome.ABANDONED
    start = record.answered_at or record.ivr_answered_at or record.offered_at
    return replace(record, ended_at=max(at, start), outcome=outcome)
