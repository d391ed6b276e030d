"""Failures of external systems, as the rest of the project sees them."""

from app.errors import Conflict, Forbidden, InvalidInput, NotFound


class DeliveryFailed(Exception):
    """A message could not be handed to the external system (it will be retried)."""


class Undeliverable(DeliveryFailed):
    """A message that no retry can deliver (its webhook was deleted): a dead letter at once."""


class MessageNotFound(NotFound):
    def __init__(self, message_id: int | str) -> None:
        super().__init__(f"外发消息不存在: {message_id}", code="message_not_found")


class NotDead(Conflict):
    """Only a dead letter is re-sent by hand; a pending one is still being tried."""

    code = "not_dead"


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: int | str) -> None:
        super().__init__(f"Webhook 不存在: {webhook_id}", code="webhook_not_found")


class WebhookInvalid(InvalidInput):
    pass


class InboundRefused(Forbidden):
    """An inbound call without the shared secret (or with SMS switched off)."""

    code = "bad_secret"


class UnitNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__(f"单位不存在或已停用: {code}", code="unit_not_found")
