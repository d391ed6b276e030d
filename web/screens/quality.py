"""质检 screens: the supervisors' list of reviews with the agents' ranking, the review
page (recording playback and the checklist form), an agent's own results."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from accounts.domain import Role
from app.errors import InvalidInput
from app.http import ascii_int, page_number
from app.keys import DISPATCH, SESSIONS, SETTINGS
from callcenter.desk import CALL_ROLES
from callcenter.routes import recording_response
from quality import services
from quality.domain import IsoWeek
from quality.exceptions import ReviewNotFound
from quality.routes import checklist
from stats.domain import competition_ranks
from stats.routes import KpiParams, kpis
from web.render import page_count, render
from web.session import actor_of, flash, screen

PAGE_SIZE = 50
QA_ROLES = tuple(services.QA_ROLES)


def _week(request: web.Request, default: IsoWeek | None) -> IsoWeek | None:
    text = request.query.get("week", "").strip()[:10]
    if not text:
        return default
    try:
        return IsoWeek.parse(text)
    except InvalidInput:
        return default


def _this_week(request: web.Request) -> IsoWeek:
    tz = ZoneInfo(request.app[SETTINGS].calendar.timezone)
    return IsoWeek.of(request.app[DISPATCH].now().astimezone(tz).date())


async def _agent_ranking(request: web.Request, week: IsoWeek) -> list[dict[str, Any]]:
    """坐席质检排名 of the week: the agent KPI table's qa_score, best first."""
    tz = ZoneInfo(request.app[SETTINGS].calendar.timezone)
    start, end = week.bounds(tz)
    params = KpiParams.model_validate(
        {"from": start.date().isoformat(), "to": end.date().isoformat(), "group_by": "agent"}
    )
    rows = [r for r in (await kpis(request.app, await actor_of(request), params))["rows"]]
    rows = [r for r in rows if r["key"] is not None and r["qa_reviews"]]
    for row, rank in zip(rows, competition_ranks([r["qa_score"] for r in rows]), strict=True):
        row["rank"] = rank
    return sorted(rows, key=lambda r: (r["rank"], r["key"]))


@screen(*QA_ROLES, Role.AGENT)
async def review_list(request: web.Request) -> web.StreamResponse:
    """质检: pending reviews first (filter by agent, week, state); an agent: their results."""
    actor = await actor_of(request)
    supervisor = actor.role != Role.AGENT
    week = _week(request, None)
    agent = request.query.get("agent", "").strip()[:60] or None
    state = request.query.get("state", "pending" if supervisor else "")
    state = state if state in ("pending", "scored") else None
    page = page_number(request.query.get("page"))
    items, total = await services.list_reviews(
        request.app[SESSIONS],
        actor,
        agent=agent,
        week=str(week) if week else None,
        state=state,
        page=page,
        page_size=PAGE_SIZE,
    )
    ranking_week = week or _this_week(request).previous()
    context = {
        "items": items,
        "total": total,
        "page": page,
        "pages": page_count(total, PAGE_SIZE),
        "week": str(week) if week else "",
        "agent": agent or "",
        "state": state or "",
        "supervisor": supervisor,
        "sample_week": str(_this_week(request).previous()),
        "ranking_week": str(ranking_week),
        "ranking": await _agent_ranking(request, ranking_week) if supervisor else [],
    }
    return await render(request, "quality.html", context)


@screen(*QA_ROLES, Role.AGENT)
async def review_page(request: web.Request) -> web.StreamResponse:
    """One review: the call, its recording, the checklist form (or the scores given)."""
    actor = await actor_of(request)
    review_id = ascii_int(request.match_info["id"])
    if review_id is None:
        raise ReviewNotFound(request.match_info["id"])
    review = await services.get_review(request.app[SESSIONS], actor, review_id)
    return await render(
        request,
        "quality_review.html",
        {
            "r": review,
            "checklist": checklist(request.app),
            "may_score": actor.role in services.QA_ROLES and review["state"] == "pending",
            "form": {},
        },
    )


@screen(*QA_ROLES)
async def score(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    review_id = ascii_int(request.match_info["id"])
    if review_id is None:
        raise ReviewNotFound(request.match_info["id"])
    form = await request.post()
    items = checklist(request.app)
    try:
        scores = {}
        for item in items:
            raw = str(form.get(f"score_{item.key}", "")).strip()
            value = ascii_int(raw, item.max) if raw != "0" else 0
            if value is None:
                raise InvalidInput(f"请为“{item.label}”选择 0–{item.max} 分")
            scores[item.key] = value
        comment = str(form.get("comment", "")).strip()[:2000] or None
        review = await services.score_review(
            request.app[SESSIONS], actor, review_id, items, scores, comment, _now(request)
        )
    except InvalidInput as exc:
        review = await services.get_review(request.app[SESSIONS], actor, review_id)
        context = {"r": review, "checklist": items, "may_score": True, "form": form}
        return await render(
            request, "quality_review.html", {**context, "error": exc.message}, status=400
        )
    await flash(request, "ok", f"已评分:{review['agent']} 的通话,得分 {review['total']:g}")
    raise web.HTTPFound(f"/web/quality/{review_id}")


@screen(*QA_ROLES)
async def sample(request: web.Request) -> web.StreamResponse:
    """抽取: write a week's sample now (what `python -m quality sample` does)."""
    form = await request.post()
    try:
        week = IsoWeek.parse(str(form.get("week", ""))[:10])
    except InvalidInput as exc:
        await flash(request, "error", exc.message)
        raise web.HTTPFound("/web/quality") from None
    app = request.app
    tz = ZoneInfo(app[SETTINGS].calendar.timezone)
    async with app[SESSIONS]() as session, session.begin():
        result = await services.sample_week(
            session, week, app[SETTINGS].quality.sample_per_agent_week, tz, _now(request)
        )
    await flash(
        request,
        "ok",
        f"{result.week}:新抽取随机抽检 {result.sampled} 条,差评工单通话 {result.bad_rating} 条",
    )
    raise web.HTTPFound(f"/web/quality?week={result.week}")


@screen(*CALL_ROLES, Role.UNIT)
async def recording(request: web.Request) -> web.StreamResponse:
    """收听录音 from a page: the API's checks and its audit line (recording.listen)."""
    return await recording_response(request, await actor_of(request))


def _now(request: web.Request) -> datetime:
    return request.app[DISPATCH].now()
