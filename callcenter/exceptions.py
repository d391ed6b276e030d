"""Errors of the call centre; none of them carries a pjsua2 type out of the bridge."""

from __future__ import annotations

from app.errors import AppError


class CallCenterError(AppError):
    code = "callcenter_error"


class SipUnavailable(CallCenterError):
    """pjsua2 is not installed (see callcenter/pjsua2/build.sh) or cannot start."""

    code = "sip_unavailable"


class EndpointStopped(CallCenterError):
    """A command was sent to a SIP endpoint that is not running (any more)."""

    code = "sip_stopped"

    def __init__(self, message: str = "SIP endpoint is not running") -> None:
        super().__init__(message)


class SipCommandFailed(CallCenterError):
    """pjsua2 refused a command (the message is its reason, e.g. PJSIP_ESESSIONTERMINATED)."""

    code = "sip_command_failed"


class UnknownCall(CallCenterError):
    """The call is gone (hung up) by the time a command for it ran."""

    status = 404
    code = "unknown_call"

    def __init__(self, leg: int) -> None:
        super().__init__(f"call leg {leg} is not active")
        self.leg = leg


class IllegalCallTransition(CallCenterError):
    status = 409
    code = "illegal_transition"

    def __init__(self, record_id: str, state: str, action: str) -> None:
        super().__init__(f"call {record_id} is {state}: cannot {action}")
