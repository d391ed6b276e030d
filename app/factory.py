"""The app factory: everything the service runs, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy import text

from accounts import apikeys
from accounts import routes as account_routes
from accounts import services as accounts
from accounts.actor_cache import ActorCache
from accounts.passwords import Passwords
from app import db, openapi
from app.http import ApiRoute, Call, add_routes, error_middleware
from app.keys import (
    ACTOR_RESOLVER,
    CALLCENTER,
    DISPATCH,
    DUPLICATES,
    ENGINE,
    KB,
    KEY_RESOLVER,
    OUTBOX,
    PASSWORDS,
    PUSH,
    ROUTES,
    SESSIONS,
    SETTINGS,
    SUGGESTER,
)
from app.logs import request_id_middleware
from app.metrics import METRICS, metrics_ctx, setup_metrics
from app.push import PushHub
from callcenter import metrics as callcenter_metrics
from callcenter import routes as callcenter_routes
from callcenter.service import callcenter_ctx
from classifiers import ClassifierError, load_model
from config import Settings
from dispatch import metrics as dispatch_metrics
from dispatch import notifications, org, privacy
from dispatch import routes as dispatch_routes
from dispatch.duplicate_index import index_subscriber, load_duplicate_index
from dispatch.scanner import run_scanner
from dispatch.services import DispatchService
from dispatch.suggestions import Suggester
from integrations import metrics as outbox_metrics
from integrations import routes as integration_routes
from integrations.open311 import routes as open311_routes
from integrations.outbox import (
    EmailTransport,
    OutboxSender,
    Transport,
    WebhookTransport,
    run_outbox,
)
from integrations.webhooks import services as webhooks
from knowledge_base import routes as kb_routes
from knowledge_base.live_index import KnowledgeBase
from quality import routes as quality_routes
from quality.services import sampler_ctx
from stats import archive as stats_archive
from stats import report as stats_report
from stats import routes as stats_routes
from web import web_setup

log = logging.getLogger(__name__)


async def healthz(request: web.Request, call: Call):
    """Which parts of this node are up; 200 while the database answers (a balancer's
    check), the other parts are reported for the operator."""
    app = request.app
    async with app[ENGINE].connect() as conn:
        await conn.execute(text("SELECT 1"))
    center = app.get(CALLCENTER)
    suggester = app[SUGGESTER]
    return {
        "status": "ok",
        "node": app[SETTINGS].sip.node_name,
        "database": app[ENGINE].dialect.name,
        "parts": {
            "database": "up",
            "sip": "off" if center is None else ("up" if center.endpoint.running else "down"),
            "category_model": suggester.model_version or "none",
            "knowledge_base": len(app[KB]),
        },
    }


def _database(now: Callable[[], datetime]):
    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        database = settings.database
        engine = db.create_engine(
            database.url,
            database.echo,
            pool_size=database.pool_size,
            max_overflow=database.max_overflow,
        )
        await db.migrate(engine)
        sessions = db.session_factory(engine)
        app[ENGINE], app[SESSIONS] = engine, sessions
        writer = None
        if engine.dialect.name == "sqlite":  # one writer, grouped commits (see db.Writer)
            writer = await db.Writer.start(settings.database.url, sessions)
        async with db.unit_of_work(sessions) as session:
            await org.sync_hotlines(session, settings.hotlines)
            if await accounts.ensure_admin(session, app[PASSWORDS], settings.auth.admin_password):
                log.info("created user 'admin' from HOTLINE_ADMIN_PASSWORD")
        service = DispatchService(sessions, settings, now)
        service.subscribers.append(
            functools.partial(notifications.notify, email=settings.email.enabled)
        )
        # Integrations subscribe to the domain's events: webhooks out (and so hand-offs).
        service.subscribers.append(webhooks.subscriber(service.tz))
        await service.reload_calendar()
        app[DISPATCH] = service

        # on the service's clock, so a token's expiry is seen as soon as the clock passes it
        actors = ActorCache(settings.auth.token_cache_seconds, lambda: now().timestamp())

        async def resolve(token: str):
            if (actor := actors.get(token)) is not None:
                return actor
            async with sessions() as session:
                actor = await accounts.actor_from_token(session, token, now())
            actors.put(token, actor)
            return actor

        app[ACTOR_RESOLVER] = resolve

        async def resolve_key(key: str):
            async with db.unit_of_work(sessions) as session:
                return await apikeys.actor_from_key(session, key, now(), settings.auth)

        app[KEY_RESOLVER] = resolve_key
        yield
        if writer is not None:
            await writer.stop()
        await engine.dispose()

    return database_ctx


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The KB search index, built once at start-up and kept in step with the database."""
    settings = app[SETTINGS]
    kb = await KnowledgeBase.load(app[SESSIONS], timezone=settings.calendar.timezone)
    app[KB] = kb
    log.info("knowledge base index: %d searchable entries", len(kb))
    yield


async def duplicates_ctx(app: web.Application) -> AsyncIterator[None]:
    """The open orders a new request may repeat, built once and kept in step by dispatch."""
    service = app[DISPATCH]
    index = await load_duplicate_index(app[SESSIONS], app[SETTINGS].classifiers, service.now())
    service.subscribers.append(index_subscriber(index))
    app[DUPLICATES] = index
    yield


async def suggestions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the category model once (off the loop); without one, run without it."""
    path = app[SETTINGS].classifiers.category_model_path
    try:
        model = await asyncio.get_running_loop().run_in_executor(None, load_model, path)
        log.info("category model %s loaded from %s", model.version, path)
    except ClassifierError as exc:
        model = None
        log.warning("no category suggestions: %s (train with `python -m classifiers train`)", exc)
    app[SUGGESTER] = Suggester(app[KB], model, app[SETTINGS].classifiers, app[DUPLICATES])
    yield


async def metric_readers_ctx(app: web.Application) -> AsyncIterator[None]:
    """What each part reports to /metrics (read in the background by metrics_ctx)."""
    sessions = app[SESSIONS]
    app[METRICS].readers += [
        dispatch_metrics.reader(sessions),
        outbox_metrics.reader(sessions),
        callcenter_metrics.reader(sessions, app.get(CALLCENTER)),
    ]
    yield


async def scanner_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(
        run_scanner(app[DISPATCH], app[KB], app[SETTINGS].scanner.interval_seconds),
        name="scanner",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def privacy_ctx(app: web.Application) -> AsyncIterator[None]:
    """Callers' personal data anonymised after `[privacy] anonymise_after_days`."""
    privacy_settings = app[SETTINGS].privacy
    task = asyncio.create_task(
        privacy.run_anonymiser(
            app[SESSIONS],
            privacy_settings.anonymise_after_days,
            app[DISPATCH].now,
            privacy_settings.interval_seconds,
        ),
        name="anonymiser",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _outbox(background: bool):
    async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
        """This node's outbox worker (e-mail when enabled, webhooks); with `background`, it
        delivers on its own while the app runs. Workers of other nodes claim other rows."""
        settings = app[SETTINGS]
        transports: dict[str, Transport] = {
            "webhook": WebhookTransport(settings.outbox.webhook_timeout_seconds)
        }
        if settings.email.enabled:
            transports["email"] = EmailTransport(settings.email)
        sender = OutboxSender(
            app[SESSIONS], settings.outbox, transports, app[DISPATCH].now, settings.sip.node_name
        )
        app[OUTBOX] = sender
        if not background:
            yield
            return
        interval = settings.outbox.interval_seconds
        task = asyncio.create_task(run_outbox(sender, interval), name="outbox")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return outbox_ctx


def create_app(
    settings: Settings, *, now: Callable[[], datetime] = db.utcnow, scanner: bool = True
) -> web.Application:
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[request_id_middleware, error_middleware],
    )
    setup_metrics(app)
    app[SETTINGS] = settings
    app[ROUTES] = []
    app[PUSH] = PushHub()
    app[PASSWORDS] = Passwords(settings.auth.argon2_time_cost, settings.auth.argon2_memory_kib)
    app[account_routes.THROTTLE] = account_routes.login_throttle(settings.auth)
    app.cleanup_ctx.append(_database(now))
    app.cleanup_ctx.append(knowledge_ctx)
    app.cleanup_ctx.append(duplicates_ctx)
    app.cleanup_ctx.append(suggestions_ctx)
    app.cleanup_ctx.append(callcenter_ctx)
    app.cleanup_ctx.append(metric_readers_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.cleanup_ctx.append(_outbox(background=scanner))
    if scanner:  # background loops; tests drive them by hand
        app.cleanup_ctx.append(scanner_ctx)
        app.cleanup_ctx.append(privacy_ctx)
        if settings.quality.sample_interval_seconds > 0:
            app.cleanup_ctx.append(sampler_ctx)
        if settings.reports.enabled:
            app.cleanup_ctx.append(stats_archive.reports_ctx)
    add_routes(app, [ApiRoute("GET", "/healthz", healthz, "健康检查", public=True)])
    add_routes(
        app,
        openapi.routes
        + account_routes.routes
        + dispatch_routes.routes
        + kb_routes.routes
        + stats_routes.routes
        + stats_report.routes
        + stats_archive.routes
        + callcenter_routes.routes
        + quality_routes.routes
        + integration_routes.routes,
    )
    # Open311 is a protocol of its own (its formats and error list), outside /api/v1.
    app.router.add_routes(open311_routes.routes)
    web_setup(app)
    return app
