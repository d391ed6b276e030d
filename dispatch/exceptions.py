"""Errors of the dispatch domain; the HTTP layer maps them through `app.errors`."""

from app.errors import Conflict, Forbidden, InvalidInput, NotFound


class IllegalTransition(Conflict):
    """The action is not allowed from the order's current state."""

    code = "illegal_transition"


class ActionForbidden(Forbidden):
    """This role, or this user's unit, may not perform the action."""


class ActionRejected(InvalidInput):
    """The action is allowed here but its input is not (no reason, too long, ...)."""


class OrderNotFound(NotFound):
    """Unknown order number, or one outside the caller's scope (never revealed)."""

    def __init__(self, number: str) -> None:
        super().__init__(f"工单不存在: {number}", code="order_not_found")


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"
