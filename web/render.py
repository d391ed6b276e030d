"""Rendering: the page context every template gets, filters, deadline countdowns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from accounts.domain import ROLE_LABELS, Actor
from app.keys import DISPATCH, SETTINGS
from dispatch.lifecycle import STATE_LABELS, Policy, State
from dispatch.storage import Order
from web import i18n, labels
from web.screens.notices import header_notices
from web.session import csrf_token, current_actor, pop_flashes


async def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    actor = await current_actor(request)
    now = request.app[DISPATCH].now()
    # Citizen pages follow the visitor's language (web/i18n.py); staff screens are Chinese.
    public = request.path.startswith(i18n.PUBLIC_PREFIX)
    lang = i18n.language(request) if public else i18n.DEFAULT
    base = {
        "public": public,
        "_": i18n.translator(lang),
        "lang": lang,
        "js_messages": i18n.js_messages(lang),
        "actor": actor,
        "role_label": ROLE_LABELS[actor.role] if actor else "",
        "nav": labels.NAV.get(actor.role, []) if actor else [],
        "path": request.path,
        "csrf_token": await csrf_token(request),
        "flashes": await pop_flashes(request),
        # The server's clock (a fixed clock in tests) anchors the countdowns in the page.
        "server_now": now.isoformat(),
        "scope_label": scope_label(request, actor),
        "notices": await header_notices(request.app, actor) if actor else None,
    }
    return aiohttp_jinja2.render_template(
        template, request, {**base, **(context or {})}, status=status
    )


def scope_label(request: web.Request, actor: Actor | None) -> str:
    """分平台: the hotlines a sub-platform manager's screens are limited to ('' = all)."""
    if actor is None or not actor.hotlines:
        return ""
    names = {h.number: h.name for h in request.app[SETTINGS].hotlines}
    return "、".join(names.get(n, n) for n in sorted(actor.hotlines)) + " 分平台"


def _local(value: str | datetime | None, request_tz) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(request_tz) if request_tz else value


def make_filters(tz) -> dict[str, Any]:
    """Jinja filters; `tz` is the centre's time zone (calendar.timezone)."""

    def dt(value: str | datetime | None) -> str:
        at = _local(value, tz)
        return at.strftime("%Y-%m-%d %H:%M") if at else "—"

    return {
        "dt": dt,
        "state_label": lambda s: STATE_LABELS.get(State(s), s) if s else "—",
        "type_label": lambda t: labels.REQUEST_TYPES.get(t, t or "—"),
        "urgency_label": lambda u: labels.URGENCIES.get(u, u or "—"),
        "channel_label": lambda c: labels.CHANNELS.get(c, c or "—"),
        "flag_label": lambda f: labels.FLAGS.get(f, f),
        "flag_class": lambda f: (
            "red" if f in labels.RED_FLAGS else "amber" if f in labels.AMBER_FLAGS else "grey"
        ),
        "satisfaction_label": lambda s: labels.SATISFACTION.get(s, s or "—"),
        "role_name": lambda r: ROLE_LABELS.get(r, r) if r else "—",
    }


@dataclass(frozen=True)
class Deadline:
    """The running deadline of an order as a list shows it."""

    label: str  # 签收时限 | 办结时限
    due: datetime
    text: str  # 剩余 2小时10分 | 已超期 1天3小时
    css: str  # ok | warning | overdue


def page_count(total: int, page_size: int) -> int:
    """Pages of a paged list: at least one (an empty list still shows its page)."""
    return max(1, -(-total // page_size))


def duration_text(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{mins}分"
    return f"{mins}分钟"


def deadline(order: Order, flags: set[str], now: datetime) -> Deadline | None:
    """签收 (accept) while dispatched, 办结 (finish) while accepted; none otherwise."""
    if order.state == State.DISPATCHED and order.accept_due:
        label, due, warn, late = "签收时限", order.accept_due, "accept_warning", "accept_overdue"
    elif order.state == State.ACCEPTED and order.finish_due:
        label, due, warn, late = "办结时限", order.finish_due, "warning", "overdue"
    else:
        return None
    left = (due - now).total_seconds()
    if left < 0 or late in flags:
        css = "overdue"
    elif warn in flags:
        css = "warning"
    else:
        css = "ok"
    text = f"剩余 {duration_text(left)}" if left >= 0 else f"已超期 {duration_text(left)}"
    return Deadline(label, due, text, css)


def verify_deadline(rated_at: datetime, policy: Policy, now: datetime) -> Deadline:
    """核实时限 of a 差评: `verify_working_days` on the working calendar from the rating,
    warned at `warning_ratio` of that time like the other deadlines.

    Computed for display, not kept by the life cycle: the scanner raises no alarm for it
    (a `verify_clock` in `OrderView` with its own flags would be the next step).
    """
    budget = policy.rules.verify_working_days * policy.calendar.day_seconds
    due = policy.calendar.add_working_seconds(rated_at, budget)
    warn_at = policy.calendar.add_working_seconds(rated_at, budget * policy.rules.warning_ratio)
    left = (due - now).total_seconds()
    css = "overdue" if left < 0 else "warning" if now >= warn_at else "ok"
    text = f"剩余 {duration_text(left)}" if left >= 0 else f"已超期 {duration_text(left)}"
    return Deadline("核实时限", due, text, css)


def order_row(summary: dict[str, Any], order: Order, now: datetime) -> dict[str, Any]:
    """A list row: the API's summary (masked per role) plus the countdown."""
    return {**summary, "deadline": deadline(order, set(summary["flags"]), now)}


def unit_names(units) -> dict[str, str]:
    return {code: unit.name for code, unit in units.by_code.items()}
