"""`web_setup(app)`: sessions, templates, the web middleware and the page routes."""

from __future__ import annotations

import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from app.keys import SETTINGS
from web.field_routes import add_field_routes
from web.middleware import web_middleware
from web.render import make_filters
from web.screens import (
    admin,
    agent,
    callpanel,
    campaigns,
    dashboard,
    login,
    notices,
    orders,
    quality,
    queues,
    wallboard,
)
from web.screens.geo import add_geo_routes
from web.uploads import body_limit_middleware

HERE = Path(__file__).parent

# aiohttp-session 2.12.1 (the newest) keeps its state under string request keys, which
# aiohttp >= 3.10 warns about on every request; the warning is about that library only.
# pytest carries the same filter in pyproject.toml.
SESSION_KEY_WARNING = (NotAppKeyWarning, "aiohttp_session")


def web_setup(app: web.Application) -> None:
    """Add the web interface to the app (called by `create_app`, before it starts)."""
    settings = app[SETTINGS].web
    warnings.filterwarnings(
        "ignore", category=SESSION_KEY_WARNING[0], module=SESSION_KEY_WARNING[1]
    )
    storage = EncryptedCookieStorage(
        settings.fernet(),
        cookie_name=settings.cookie_name,
        max_age=int(settings.session_max_age_hours * 3600),
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Lax",
    )
    # After the app's JSON error middleware: the session is there when an error page
    # is drawn, and web paths get HTML errors from `web_middleware`.
    aiohttp_session.setup(app, storage)
    # Before the CSRF check reads a form: forms with files get a larger body limit.
    app.middlewares.append(body_limit_middleware(settings))
    app.middlewares.append(web_middleware)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        filters=make_filters(ZoneInfo(app[SETTINGS].calendar.timezone)),
    )
    env.trim_blocks = env.lstrip_blocks = True
    add_web_routes(app)


def add_web_routes(app: web.Application) -> None:
    app.router.add_get("/", login.root)
    app.router.add_get("/login", login.login_form)
    app.router.add_post("/login", login.login_submit)
    app.router.add_get("/logout", login.logout_page)
    app.router.add_post("/logout", login.logout)
    app.router.add_get(login.PASSWORD_PAGE, login.password_form)
    app.router.add_post(login.PASSWORD_PAGE, login.password_change)
    app.router.add_get("/web/home", login.placeholder_home)
    app.router.add_get("/web/agent", agent.console)
    app.router.add_post("/web/agent/register", agent.register)
    app.router.add_get("/web/api/suggest", agent.suggest)
    callpanel.add_call_panel(app)  # /web/ws/agent, the call centre's screen pop
    app.router.add_get("/web/dispatch", queues.dispatch_queue)
    app.router.add_post("/web/dispatch/bulk", queues.bulk_dispatch)
    app.router.add_get("/web/unit", queues.unit_inbox)
    app.router.add_get("/web/supervise", queues.supervise_board)
    app.router.add_get("/web/supervise/ranking", queues.ranking)
    add_quality_routes(app)
    app.router.add_get("/web/wallboard", wallboard.wallboard)
    app.router.add_get("/web/api/wallboard", wallboard.wallboard_data)
    app.router.add_get("/web/orders", orders.search)
    app.router.add_post("/web/orders/views", orders.save_view)
    app.router.add_post(r"/web/orders/views/{id:\d{1,10}}/delete", orders.delete_view)
    app.router.add_get(r"/web/orders/{number:\d{1,20}}", orders.detail_page)
    app.router.add_get(r"/web/orders/{number:\d{1,20}}/print", orders.print_page)
    app.router.add_post("/web/notifications/read", notices.mark_read)
    app.router.add_post(r"/web/orders/{number:\d{1,20}}/linkage", orders.record_linkage)
    app.router.add_post(r"/web/orders/{number:\d{1,20}}/{action:[a-z_]{1,30}}", orders.act)
    add_admin_routes(app)
    add_field_routes(app)  # citizen, grid inspector, attachments
    add_geo_routes(app)  # maps, 位置 → 地址, Leaflet
    app.router.add_get("/web/dashboard", dashboard.dashboard)
    app.router.add_get(r"/web/exports/{name:(kpis|orders)\.(xlsx|csv)}", dashboard.export)
    app.router.add_post("/web/reports", dashboard.new_report)
    app.router.add_get(r"/web/reports/{id:\d{1,12}}{suffix:(\.xlsx)?}", dashboard.stored_report)
    app.router.add_static("/web/static/", HERE / "static", name="web_static")


def add_admin_routes(app: web.Application) -> None:
    """系统管理 (web/screens/admin.py)."""
    unit, user = r"{code:[A-Za-z0-9_\-]{1,40}}", r"{username:[A-Za-z0-9_.\-]{1,60}}"
    category, day = r"{code:[A-Za-z0-9_\-.]{1,40}}", r"{day:[0-9\-]{8,10}}"
    app.router.add_get("/web/admin", admin.admin_home)
    app.router.add_get("/web/admin/units", admin.units_page)
    app.router.add_post("/web/admin/units", admin.unit_create)
    app.router.add_post(f"/web/admin/units/{unit}", admin.unit_update)
    app.router.add_post(f"/web/admin/units/{unit}/active", admin.unit_active)
    app.router.add_get("/web/admin/users", admin.users_page)
    app.router.add_post("/web/admin/users", admin.user_create)
    app.router.add_get(f"/web/admin/users/{user}", admin.user_page)
    app.router.add_post(f"/web/admin/users/{user}", admin.user_update)
    app.router.add_post(f"/web/admin/users/{user}/password", admin.user_password)
    app.router.add_post(f"/web/admin/users/{user}/languages", admin.user_languages)
    app.router.add_post(f"/web/admin/users/{user}/active", admin.user_active)
    app.router.add_get("/web/admin/hotlines", admin.hotlines_page)
    app.router.add_post(r"/web/admin/hotlines/{number:\d{3,20}}", admin.hotline_update)
    app.router.add_get("/web/admin/outbox", admin.outbox_page)
    app.router.add_post(r"/web/admin/outbox/{id:\d{1,12}}/resend", admin.outbox_resend)
    app.router.add_get("/web/admin/catalogue", admin.catalogue_page)
    app.router.add_post("/web/admin/catalogue", admin.category_create)
    app.router.add_post(f"/web/admin/catalogue/{category}", admin.category_update)
    app.router.add_get("/web/admin/calendar", admin.calendar_page)
    app.router.add_post("/web/admin/calendar", admin.calendar_set)
    app.router.add_post(f"/web/admin/calendar/{day}/delete", admin.calendar_clear)
    app.router.add_get("/web/admin/thresholds", admin.thresholds_page)
    app.router.add_get("/web/admin/model", admin.model_page)
    app.router.add_post("/web/admin/model/retrain", admin.model_retrain)
    app.router.add_get("/web/admin/audit", admin.audit_page)
    campaigns.add_campaign_routes(app)  # 外呼任务, 免打扰名单


def add_quality_routes(app: web.Application) -> None:
    """质检 (web/screens/quality.py) and the audited recording door of the pages."""
    app.router.add_get("/web/quality", quality.review_list)
    app.router.add_post("/web/quality/sample", quality.sample)
    app.router.add_get(r"/web/quality/{id:\d{1,12}}", quality.review_page)
    app.router.add_post(r"/web/quality/{id:\d{1,12}}", quality.score)
    app.router.add_get(r"/web/calls/{id:[0-9A-Za-z]{1,32}}/recording", quality.recording)
