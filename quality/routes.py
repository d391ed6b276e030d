"""HTTP entrypoints of 质检 (call quality inspection).

    GET  /api/v1/quality/checklist: the scoring items (key, label, max, weight)
    GET  /api/v1/quality/reviews?agent=&week=&state=&page=&page_size=
    GET  /api/v1/quality/reviews/{id}
    POST /api/v1/quality/reviews/{id}/score {scores: {key: points}, comment}
    POST /api/v1/quality/samples {week}: write a week's sample (as the CLI does)

Supervisors and admins list, sample and score (sub-platform staff: their hotlines'
calls); an agent lists and reads only their own scored reviews. The recording itself
is `GET /api/v1/calls/{id}/recording` (audited as recording.listen).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field

from app.http import ApiRoute, Call, Page, StrictBody, ascii_int, page_answer
from app.keys import DISPATCH, SESSIONS, SETTINGS
from quality import services
from quality.domain import ChecklistItem, IsoWeek, checklist_of
from quality.exceptions import ReviewNotFound

WEEK_PATTERN = r"^\d{4}-W\d{2}$"
ItemKey = Annotated[str, Field(min_length=1, max_length=40)]


class ReviewQuery(Page):
    agent: str | None = Field(None, min_length=1, max_length=60)
    week: str | None = Field(None, pattern=WEEK_PATTERN)
    state: Literal["pending", "scored"] | None = None


class ScoreBody(StrictBody):
    scores: dict[ItemKey, int] = Field(max_length=30)
    comment: str | None = Field(None, max_length=2000)


class SampleBody(StrictBody):
    week: str = Field(pattern=WEEK_PATTERN)


def checklist(app: web.Application) -> tuple[ChecklistItem, ...]:
    return checklist_of(app[SETTINGS].quality.checklist)


def _review_id(request: web.Request) -> int:
    review_id = ascii_int(request.match_info["id"])
    if review_id is None:
        raise ReviewNotFound(request.match_info["id"])
    return review_id


async def get_checklist(request: web.Request, call: Call):
    return {"items": [asdict(item) for item in checklist(request.app)]}


async def list_reviews(request: web.Request, call: Call):
    q: ReviewQuery = call.query
    items, total = await services.list_reviews(
        request.app[SESSIONS],
        call.actor,
        agent=q.agent,
        week=q.week,
        state=q.state,
        page=q.page,
        page_size=q.page_size,
    )
    return page_answer(items, total, q.page, q.page_size)


async def get_review(request: web.Request, call: Call):
    return await services.get_review(request.app[SESSIONS], call.actor, _review_id(request))


async def score_review(request: web.Request, call: Call):
    body: ScoreBody = call.body
    app = request.app
    return await services.score_review(
        app[SESSIONS],
        call.actor,
        _review_id(request),
        checklist(app),
        body.scores,
        body.comment,
        app[DISPATCH].now(),
    )


async def sample(request: web.Request, call: Call):
    body: SampleBody = call.body
    app = request.app
    week = IsoWeek.parse(body.week)
    tz = ZoneInfo(app[SETTINGS].calendar.timezone)
    per_agent = app[SETTINGS].quality.sample_per_agent_week
    async with app[SESSIONS]() as session, session.begin():
        result = await services.sample_week(session, week, per_agent, tz, app[DISPATCH].now())
    return asdict(result)


routes = [
    ApiRoute(
        "GET",
        "/api/v1/quality/checklist",
        get_checklist,
        "质检评分项",
        roles=services.READ_ROLES,
        tags=("quality",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/quality/reviews",
        list_reviews,
        "质检记录(督办员:全部;话务员:本人已评分)",
        roles=services.READ_ROLES,
        query=ReviewQuery,
        tags=("quality",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/quality/reviews/{id}",
        get_review,
        "质检记录详情",
        roles=services.READ_ROLES,
        tags=("quality",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/quality/reviews/{id}/score",
        score_review,
        "质检评分",
        roles=services.QA_ROLES,
        body=ScoreBody,
        tags=("quality",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/quality/samples",
        sample,
        "按周抽取质检录音(每坐席随机抽检 + 差评工单通话)",
        roles=services.QA_ROLES,
        body=SampleBody,
        tags=("quality",),
    ),
]
