"""Imports every package's tables so `Base.metadata` is complete (migrations, checks)."""


def import_all() -> None:
    import accounts.audit
    import accounts.storage  # noqa: F401
    import app.leader
    import app.ratelimit  # noqa: F401
    import callcenter.storage  # noqa: F401
    import dispatch.geo
    import dispatch.storage  # noqa: F401
    import integrations.email.storage
    import integrations.outbox
    import integrations.sms.storage
    import integrations.webhooks.storage  # noqa: F401
    import knowledge_base.storage  # noqa: F401
    import quality.storage  # noqa: F401
    import stats.storage  # noqa: F401
    import web.storage  # noqa: F401
