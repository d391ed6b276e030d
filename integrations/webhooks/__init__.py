"""Webhooks out (DESIGN §8): life-cycle events of orders POSTed, signed, to partner
systems, through the outbox."""
