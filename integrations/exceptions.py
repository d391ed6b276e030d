"""Failures of external systems, as the rest of the project sees them."""


class DeliveryFailed(Exception):
    """A message could not be handed to the external system (it will be retried)."""
