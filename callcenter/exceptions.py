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


class IllegalAgentTransition(CallCenterError):
    status = 409
    code = "illegal_agent_transition"

    def __init__(self, username: str, state: str, action: str) -> None:
        labels = {
            "available": "空闲",
            "ringing": "振铃",
            "talking": "通话中",
            "wrap_up": "话后整理",
            "paused": "示忙",
            "logged_out": "离线",
        }
        super().__init__(f"坐席 {username} 当前为{labels.get(state, state)},不能执行该操作")
        self.username, self.state, self.action = username, state, action


class InvalidSipUri(CallCenterError):
    status = 400
    code = "invalid_sip_uri"

    def __init__(self, uri: str) -> None:
        super().__init__("SIP 地址格式不正确,应为 sip:用户@主机[:端口]")
        self.uri = uri


class InvalidSipPassword(CallCenterError):
    status = 400
    code = "invalid_sip_password"


class NotAnAgent(CallCenterError):
    status = 404
    code = "agent_not_found"

    def __init__(self, username: str) -> None:
        super().__init__(f"坐席 {username} 不存在")


class CallNotFound(CallCenterError):
    status = 404
    code = "call_not_found"

    def __init__(self, call_id: str, message: str = "通话记录不存在") -> None:
        super().__init__(message)
        self.call_id = call_id


class ConferenceNotPossible(CallCenterError):
    """三方通话 cannot be started or ended in the call's present state."""

    status = 409
    code = "conference_not_possible"


class LinkageNotPossible(CallCenterError):
    """应急联动 cannot be done now (the call ended, no agent on it, no gateway set)."""

    status = 409
    code = "linkage_not_possible"
