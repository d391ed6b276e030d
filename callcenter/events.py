"""What the SIP endpoint thread reports to asyncio: small, immutable, plain data.

A call is named by its `leg`, a number the endpoint never reuses (pjsua call ids are
reused as soon as a call ends, so holding one across an await is a bug waiting).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingCall:
    leg: int
    message: str  # the INVITE as received (request line, headers, SDP)
    source: str  # "ip:port" it came from


@dataclass(frozen=True)
class CallAnswered:
    leg: int


@dataclass(frozen=True)
class CallConfirmed:
    """The caller's ACK arrived: the dialog is up."""

    leg: int


@dataclass(frozen=True)
class MediaStarted:
    leg: int
    recording: str | None


@dataclass(frozen=True)
class MediaFailed:
    leg: int
    reason: str


@dataclass(frozen=True)
class GreetingFinished:
    leg: int


@dataclass(frozen=True)
class PromptFinished:
    """The prompts of a `play` command (named by its token) were all played."""

    leg: int
    token: int


@dataclass(frozen=True)
class DtmfReceived:
    leg: int
    digit: str  # one character as pjsua reports it (garbage included)
    method: str  # "rfc2833" | "sip_info"


@dataclass(frozen=True)
class CallDisconnected:
    leg: int
    status_code: int
    reason: str
    answered: bool


@dataclass(frozen=True)
class LegsBridged:
    """Two legs' audio are joined in the conference bridge (caller and agent; or a
    unit's leg and the caller's, with its agent: 三方通话)."""

    leg: int
    other: int


@dataclass(frozen=True)
class CommandFailed:
    """A posted (not awaited) command could not run, e.g. the call had just ended."""

    leg: int
    command: str
    reason: str


BridgeEvent = (
    IncomingCall
    | CallAnswered
    | CallConfirmed
    | MediaStarted
    | MediaFailed
    | GreetingFinished
    | PromptFinished
    | DtmfReceived
    | CallDisconnected
    | LegsBridged
    | CommandFailed
)


@dataclass(frozen=True)
class EndpointStats:
    calls: int  # legs the endpoint tracks
    live_call_objects: int  # pjsua2 Call objects alive in Python (after a GC pass)
    active_ports: int  # conference bridge ports in use
    idle_ports: int  # ... right after start-up (the master port)
    max_ports: int

    @property
    def idle(self) -> bool:
        return (
            self.calls == 0
            and self.live_call_objects == 0
            and (self.active_ports == self.idle_ports)
        )


@dataclass
class ShutdownReport:
    hung_up: int  # calls still up when shut-down began
    unfinished: int  # ... that had not ended when the timeout ran out
    live_call_objects: int  # Call objects alive after the last GC pass (leak if > 0)
    active_ports: int
    idle_ports: int
    seconds: float

    @property
    def clean(self) -> bool:
        return (
            self.unfinished == 0
            and self.live_call_objects == 0
            and self.active_ports == self.idle_ports
        )
