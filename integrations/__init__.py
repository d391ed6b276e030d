"""Integrations with systems outside the centre: e-mail now; webhooks, Open311, SMS and
the emergency linkage later. Each external system has one client module that turns its
failures into this package's exceptions; messages leave through the outbox, so a
transaction never waits for, or fails because of, a remote server."""
