"""The app factory: everything the service runs, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from accounts import apikeys
from accounts import routes as account_routes
from accounts import services as accounts
from accounts.actor_cache import ActorCache, clear_all_caches
from accounts.passwords import Passwords
from app import db, leader, openapi, ratelimit
from app.bus import create_bus
from app.http import ApiRoute, Call, add_routes, error_middleware
from app.keys import (
    ACTOR_RESOLVER,
    BUS,
    CALLCENTER,
    DISPATCH,
    DUPLICATES,
    ENGINE,
    KB,
    KEY_RESOLVER,
    LEADER,
    MAILBOX,
    OUTBOX,
    PASSWORDS,
    PUSH,
    REQUEST_LIMITER,
    ROUTES,
    SESSIONS,
    SETTINGS,
    SUGGESTER,
)
from app.logs import request_id_middleware
from app.metrics import METRICS, metrics_ctx, setup_metrics
from app.push import PushHub
from callcenter import campaign_routes
from callcenter import metrics as callcenter_metrics
from callcenter import routes as callcenter_routes
from callcenter import storage as callcenter_storage
from callcenter.service import callcenter_ctx
from classifiers import ClassifierError, detect_urgency, load_model
from config import Settings
from dispatch import geo as geo_routes
from dispatch import metrics as dispatch_metrics
from dispatch import notifications, org, privacy
from dispatch import routes as dispatch_routes
from dispatch.duplicate_index import DuplicateIndex, fill_in_background, follow, index_subscriber
from dispatch.duplicate_index import reader as duplicate_index_reader
from dispatch.reading_pool import ReadingPool, default_workers
from dispatch.reading_pool import reader as reading_pool_reader
from dispatch.scanner import run_scanner
from dispatch.services import DispatchService
from dispatch.suggestions import Suggester, forget_catalogues
from integrations import metrics as outbox_metrics
from integrations import routes as integration_routes
from integrations.email.inbound import Mailbox, start_mailbox
from integrations.open311 import routes as open311_routes
from integrations.outbox import (
    EmailTransport,
    OutboxSender,
    SmsTransport,
    Transport,
    WebhookTransport,
    run_outbox,
)
from integrations.sms import routes as sms_routes
from integrations.sms import services as sms
from integrations.webhooks import services as webhooks
from knowledge_base import routes as kb_routes
from knowledge_base.live_index import KnowledgeBase
from quality import routes as quality_routes
from quality.services import run_sampler
from stats import archive as stats_archive
from stats import report as stats_report
from stats import rollup as stats_rollup
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
    leader = app[LEADER]
    return {
        "status": "ok",
        "node": app[SETTINGS].sip.node_name,
        "database": app[ENGINE].dialect.name,
        "parts": {
            "database": "up",
            "sip": "off" if center is None else ("up" if center.endpoint.running else "down"),
            "category_model": suggester.model_version or "none",
            "knowledge_base": len(app[KB]),
            # "building" until the start-up build is done (no duplicates suggested till then)
            "duplicate_index": len(app[DUPLICATES]) if app[DUPLICATES].ready else "building",
            "bus": "up" if app[BUS].up else "down",
            "leader": leader.is_leader,
            # each background job: "running" here, or "standby" (it runs on the leader)
            "background": leader.parts(),
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
        # KPI daily sums: each change marks the days it touches (stats/rollup.py)
        service.subscribers.append(stats_rollup.subscriber(service.tz))
        if settings.sms.enabled:  # acknowledgements and unit alerts by SMS
            service.subscribers.append(sms.subscriber(settings))
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
        limiter = ratelimit.RequestLimiter(settings.auth.request_window_seconds, now)
        app[REQUEST_LIMITER] = limiter
        counting = asyncio.create_task(limiter.run(sessions), name="request-counts")
        yield
        counting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counting
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
    app[BUS].subscribe("kb", lambda _data: kb.refresh_if_changed())  # changed on another node
    yield


async def duplicates_ctx(app: web.Application) -> AsyncIterator[None]:
    """The open orders a new request may repeat, kept in step by dispatch. Built in the
    background (100,000 open orders take tens of seconds): the node serves meanwhile and
    suggests duplicates once it is ready (/metrics `hotline_duplicate_index_ready`,
    /healthz `duplicate_index`)."""
    service = app[DISPATCH]
    settings = app[SETTINGS].classifiers
    index = DuplicateIndex.from_settings(settings)
    service.subscribers.append(index_subscriber(index))
    follow(index, app[BUS], app[SESSIONS], settings, service.now)  # the other nodes' changes
    app[DUPLICATES] = index
    build = fill_in_background(index, app[SESSIONS], settings, service.now())
    yield
    build.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await build


async def suggestions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the category model once (off the loop); without one, run without it. The
    urgency model is fitted off the loop too (once per process, ~1 s), not by the first
    request."""
    settings = app[SETTINGS].classifiers
    path = settings.category_model_path
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, detect_urgency, "预热")
    try:
        model = await loop.run_in_executor(None, load_model, path)
        log.info("category model %s loaded from %s", model.version, path)
    except ClassifierError as exc:
        model = None
        log.warning("no category suggestions: %s (train with `python -m classifiers train`)", exc)
    suggester = Suggester(app[KB], model, settings, app[DUPLICATES], app[SESSIONS])
    workers = settings.reading_workers
    if workers is None:
        workers = default_workers(app[SETTINGS].server.workers)
    if workers > 0:
        suggester.pool = ReadingPool(workers, path)
    app[SUGGESTER] = suggester

    async def reload(data: dict) -> None:
        """Another node retrained the model (saved where every node reads it)."""
        if data.get("version") == suggester.model_version:
            return
        try:
            loaded = await asyncio.get_running_loop().run_in_executor(None, load_model, path)
        except ClassifierError as exc:
            log.error("retrained category model not loaded: %s", exc)
            return
        suggester.category_model = loaded
        log.info("category model %s reloaded (retrained on another node)", loaded.version)

    app[BUS].subscribe("model", reload)
    yield
    if suggester.pool is not None:
        await suggester.pool.close()


async def metric_readers_ctx(app: web.Application) -> AsyncIterator[None]:
    """What each part reports to /metrics (read in the background by metrics_ctx)."""
    sessions = app[SESSIONS]
    app[METRICS].readers += [
        dispatch_metrics.reader(sessions),
        outbox_metrics.reader(sessions),
        callcenter_metrics.reader(sessions, app.get(CALLCENTER)),
        reading_pool_reader(app[SUGGESTER]),
        duplicate_index_reader(app[DUPLICATES]),
    ]
    yield


def _cluster(background: bool):
    async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
        """This node in the cluster: the bus every node hears (app/bus.py), and the
        leader election that runs the background jobs on one node (app/leader.py).

        The election starts last (`leadership_ctx`), once every part a job uses is up."""
        settings, service = app[SETTINGS], app[DISPATCH]
        node, cluster = settings.sip.node_name, settings.cluster
        bus = create_bus(node, settings.database.url, cluster.bus_reconnect_seconds)
        await bus.start()
        app[BUS] = bus
        app[PUSH].connect(bus)
        # What other nodes change: caches forget, the calendar is read again.
        bus.subscribe("actors", lambda _data: clear_all_caches())
        bus.subscribe("catalogue", lambda _data: forget_catalogues())
        bus.subscribe("webhooks", lambda _data: webhooks.forget_webhooks())
        bus.subscribe("calendar", lambda _data: service.reload_calendar())
        app[LEADER] = leader.create_leader(node, settings.database.url, cluster.leader_poll_seconds)
        yield
        await bus.stop()

    return cluster_ctx


def _leadership(background: bool):
    async def leadership_ctx(app: web.Application) -> AsyncIterator[None]:
        """With `background`, the deadline scanner, the anonymiser, the KPI daily sums,
        the reports and the dead-nodes job run on the leader (parts may have added
        theirs: the survey dialer), and the node records its heartbeat; without (tests),
        nothing runs on its own."""
        settings, elected = app[SETTINGS], app[LEADER]
        beat = None
        if background:
            elected.add_job("scanner", lambda: _scanner(app))
            elected.add_job("anonymiser", lambda: _anonymiser(app))
            elected.add_job("dead_nodes", lambda: _dead_nodes(app))
            elected.add_job("kpi_daily", lambda: stats_rollup.run(app))
            if settings.reports.enabled:
                elected.add_job("reports", lambda: stats_archive.run_reports(app))
            if settings.sms.enabled:
                elected.add_job("sms_survey", lambda: _sms_surveys(app))
            if settings.quality.sample_interval_seconds > 0:
                elected.add_job("qa_sampler", lambda: _qa_sampler(app))
            interval = settings.cluster.leader_poll_seconds
            node, dead = settings.sip.node_name, settings.cluster.node_dead_seconds
            if await leader.name_taken(app[SESSIONS], node, app[DISPATCH].now(), dead):
                log.error(
                    "node name %r is in use by a live node (or this node restarted within "
                    "%g s): give each node its own HOTLINE_NODE",
                    node,
                    dead,
                )
            beat = asyncio.create_task(
                leader.run_heartbeat(app[SESSIONS], node, app[DISPATCH].now, interval),
                name="heartbeat",
            )
        await elected.start()
        yield
        await elected.stop()
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            try:
                await leader.forget_node(app[SESSIONS], settings.sip.node_name)
            except SQLAlchemyError:
                log.exception("node %s not removed from cluster_nodes", settings.sip.node_name)

    return leadership_ctx


async def _scanner(app: web.Application) -> None:
    await run_scanner(app[DISPATCH], app[KB], app[SETTINGS].scanner.interval_seconds)


async def _anonymiser(app: web.Application) -> None:
    """Callers' personal data anonymised after `[privacy] anonymise_after_days`."""
    privacy_settings = app[SETTINGS].privacy
    await privacy.run_anonymiser(
        app[SESSIONS],
        privacy_settings.anonymise_after_days,
        app[DISPATCH].now,
        privacy_settings.interval_seconds,
    )


async def _dead_nodes(app: web.Application) -> None:
    """Clean up after nodes not seen for `[cluster] node_dead_seconds`: their open call
    records are closed and the agents on their calls freed (other nodes reload them);
    old rate-limit buckets go too."""
    settings, sessions, now = app[SETTINGS], app[SESSIONS], app[DISPATCH].now
    while True:
        try:
            freed: list[int] = []
            async with db.unit_of_work(sessions) as session:
                limit = settings.cluster.node_dead_seconds
                for name in await leader.take_dead_nodes(session, now(), limit):
                    freed += await callcenter_storage.free_agents_of(session, name, now())
                    closed = await callcenter_storage.close_unfinished(session, name, now())
                    log.warning(
                        "node %s is dead: %d call records closed, %d agents freed",
                        name,
                        closed,
                        len(freed),
                    )
                await ratelimit.purge(session, now())
            if freed:
                await app[BUS].publish("agents", {"user_ids": freed})
        except SQLAlchemyError:
            log.exception("dead-nodes job failed; retrying")
        await asyncio.sleep(settings.cluster.leader_poll_seconds)


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
        if settings.sms.enabled:
            transports["sms"] = SmsTransport(settings.sms, settings.hotlines[0].number)
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


async def _qa_sampler(app: web.Application) -> None:
    """The weekly 质检 sample (`[quality] sample_interval_seconds`)."""
    settings = app[SETTINGS]
    await run_sampler(
        app[SESSIONS],
        settings.quality.sample_per_agent_week,
        ZoneInfo(settings.calendar.timezone),
        app[DISPATCH].now,
        settings.quality.sample_interval_seconds,
    )


async def _sms_surveys(app: web.Application) -> None:
    """The survey's SMS fallback: surveys the dialer gave up calling get the SMS."""
    settings = app[SETTINGS]
    while True:
        try:
            await sms.send_due_surveys(app[SESSIONS], settings.sms, app[DISPATCH].now())
        except SQLAlchemyError:
            log.exception("sms survey round failed")
        await asyncio.sleep(settings.sms.survey_interval_seconds)


async def mailbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hotline mailbox: an SMTP listener on this node ([mail] inbound_enabled)."""
    mail = app[SETTINGS].mail
    handler = Mailbox(app[SETTINGS], app[DISPATCH], app[SUGGESTER], app[SESSIONS])
    server = await start_mailbox(handler, mail.bind, mail.port, mail.max_bytes)
    app[MAILBOX] = handler
    log.info("hotline mailbox listening on %s:%d", mail.bind, server.sockets[0].getsockname()[1])
    yield
    server.close()
    await server.wait_closed()


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
    app.cleanup_ctx.append(_cluster(background=scanner))
    app.cleanup_ctx.append(knowledge_ctx)
    app.cleanup_ctx.append(duplicates_ctx)
    app.cleanup_ctx.append(suggestions_ctx)
    app.cleanup_ctx.append(callcenter_ctx)
    app.cleanup_ctx.append(metric_readers_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.cleanup_ctx.append(_outbox(background=scanner))
    if settings.mail.inbound_enabled:
        app.cleanup_ctx.append(mailbox_ctx)
    app.cleanup_ctx.append(_leadership(background=scanner))
    add_routes(
        app, [ApiRoute("GET", "/healthz", healthz, "健康检查", public=True, throttled=False)]
    )
    add_routes(
        app,
        openapi.routes
        + account_routes.routes
        + dispatch_routes.routes
        + geo_routes.routes
        + kb_routes.routes
        + stats_routes.routes
        + stats_report.routes
        + stats_archive.routes
        + callcenter_routes.routes
        + campaign_routes.routes
        + quality_routes.routes
        + integration_routes.routes
        + sms_routes.routes,
    )
    # Open311 is a protocol of its own (its formats and error list), outside /api/v1.
    app.router.add_routes(open311_routes.routes)
    web_setup(app)
    return app
