"""HTTP entrypoints of outbound campaigns (外呼任务, callcenter/campaigns.py).

    POST /api/v1/campaigns: define one (admin); GET /api/v1/campaigns: the list
    GET /api/v1/campaigns/{id}: definition and live results (admin, supervisor)
    POST /api/v1/campaigns/{id}/targets {phones | csv | callers: {from, to, hotline}}
    POST /api/v1/campaigns/{id}/start, /pause
    GET /api/v1/campaigns/{id}/export: targets and answers as XLSX (numbers masked)
    GET /api/v1/do-not-call, PUT|DELETE /api/v1/do-not-call/{phone}: 免打扰名单 (admin)

Every change is in the audit trail (campaign, config.dnc); an export too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select

from accounts.audit import Event
from accounts.domain import Actor, Role, mask_phone
from accounts.routes import trail
from app.errors import InvalidInput
from app.http import ApiRoute, Call, Page, StrictBody, ascii_int, page_answer
from app.keys import DISPATCH, SESSIONS, SETTINGS
from callcenter import campaigns
from callcenter.campaigns import PHONE, CampaignError, CampaignNotFound
from callcenter.routes import parse_bound
from callcenter.storage import Campaign, CampaignTarget, DoNotCall
from stats.exports import Column, Table, to_xlsx

ADMIN = frozenset({Role.ADMIN})
VIEWERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KIND_LABELS = {"poll": "民意调查", "outreach": "政策宣传"}
STATE_LABELS = {"draft": "草稿", "running": "外呼中", "paused": "已暂停", "done": "已完成"}


class Question(StrictBody):
    text: str = Field(min_length=1, max_length=200)
    # key -> label, e.g. {"1": "满意", "2": "基本满意", "3": "不满意"}
    options: dict[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], str] = Field(
        min_length=1, max_length=10
    )

    @model_validator(mode="after")
    def _labels(self) -> Question:
        if any(not label.strip() or len(label) > 20 for label in self.options.values()):
            raise ValueError("每个选项须有 1-20 字的名称")
        return self


class CreateCampaign(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["poll", "outreach"] = "poll"
    intro: str = Field(min_length=1, max_length=500)
    questions: list[Question] = Field(min_length=1, max_length=10)
    thanks: str = Field("感谢您的参与,再见。", min_length=1, max_length=200)
    hours: tuple[int, int] = (9, 20)
    attempts: int = Field(3, ge=1, le=10)
    retry_minutes: float = Field(30, ge=0, le=10080)
    pace_per_minute: int = Field(30, ge=1, le=6000)
    max_concurrent: int = Field(10, ge=1, le=500)

    @model_validator(mode="after")
    def _hours(self) -> CreateCampaign:
        start, end = self.hours
        if not 0 <= start < end <= 24:
            raise ValueError("外呼时段须为 0-24 点之间的 [开始, 结束)")
        return self


class Callers(BaseModel):
    model_config = {"populate_by_name": True, "extra": "forbid"}

    start: str = Field(alias="from", max_length=40)
    end: str = Field(alias="to", max_length=40)
    hotline: str | None = Field(None, max_length=20)


class Targets(StrictBody):
    phones: list[str] | None = Field(None, max_length=20000)
    csv: str | None = Field(None, max_length=1_000_000)
    callers: Callers | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Targets:
        if sum(x is not None for x in (self.phones, self.csv, self.callers)) != 1:
            raise ValueError("phones、csv、callers 须填写且只填写其中一个")
        return self


class DoNotCallBody(StrictBody):
    reason: str = Field("", max_length=200)


def view(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "kind_label": KIND_LABELS[campaign.kind],
        "state": campaign.state,
        "state_label": STATE_LABELS[campaign.state],
        "intro": campaign.intro,
        "questions": campaign.questions,
        "thanks": campaign.thanks,
        "hours": [campaign.hour_start, campaign.hour_end],
        "attempts": campaign.attempts,
        "retry_minutes": campaign.retry_minutes,
        "pace_per_minute": campaign.pace_per_minute,
        "max_concurrent": campaign.max_concurrent,
        "created_by": campaign.created_by,
        "created_at": campaign.created_at.isoformat(),
    }


async def _campaign(session, request: web.Request) -> Campaign:
    raw = request.match_info["id"]
    campaign_id = ascii_int(raw)
    campaign = None if campaign_id is None else await session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(raw[:20])
    return campaign


# The use cases below serve the API and the admin screen (web/screens/campaigns.py)
# alike: the same validation, the same audit trail.


async def create_campaign(request: web.Request, actor: Actor, body: CreateCampaign) -> Campaign:
    now = request.app[DISPATCH].now()
    async with trail(request, actor).act(Event.CAMPAIGN) as (session, act):
        campaign = Campaign(
            name=body.name,
            kind=body.kind,
            intro=body.intro,
            questions=[q.model_dump() for q in body.questions],
            thanks=body.thanks,
            state="draft",
            hour_start=body.hours[0],
            hour_end=body.hours[1],
            attempts=body.attempts,
            retry_minutes=body.retry_minutes,
            pace_per_minute=body.pace_per_minute,
            max_concurrent=body.max_concurrent,
            created_by=actor.username,
            created_at=now,
            updated_at=now,
        )
        session.add(campaign)
        await session.flush()
        act.object, act.detail = str(campaign.id), {"action": "create", "name": body.name}
    # After the commit (synthesis takes a second, SQLite's writer must not wait for it);
    # a campaign whose prompts are missing cannot start.
    await asyncio.to_thread(campaigns.write_prompts, request.app[SETTINGS].sip, campaign)
    return campaign


async def create(request: web.Request, call: Call):
    return view(await create_campaign(request, call.actor, call.body))


async def campaign_page(request: web.Request, page: int, size: int) -> tuple[list[dict], int]:
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(Campaign))
        rows = await session.scalars(
            select(Campaign).order_by(Campaign.id.desc()).offset((page - 1) * size).limit(size)
        )
        items = [view(c) for c in rows]
        counts = await session.execute(
            select(CampaignTarget.campaign_id, CampaignTarget.state, func.count())
            .where(CampaignTarget.campaign_id.in_([c["id"] for c in items]))
            .group_by(CampaignTarget.campaign_id, CampaignTarget.state)
        )
        progress: dict[int, dict[str, int]] = {}
        for campaign_id, state, count in counts:
            progress.setdefault(campaign_id, {})[state] = count
    for item in items:  # numbers: all, and settled (answered, failed, do-not-call)
        states = progress.get(item["id"], {})
        item["targets"] = sum(states.values())
        item["settled"] = sum(states.get(state, 0) for state in campaigns.SETTLED)
    return items, total or 0


async def listing(request: web.Request, call: Call):
    q: Page = call.query
    items, total = await campaign_page(request, q.page, q.page_size)
    return page_answer(items, total, q.page, q.page_size)


async def campaign_detail(request: web.Request) -> dict[str, Any]:
    """The campaign `{id}` of the path with its live results."""
    async with request.app[SESSIONS]() as session:
        campaign = await _campaign(session, request)
        return {**view(campaign), "results": await campaigns.results(session, campaign)}


async def detail(request: web.Request, call: Call):
    return await campaign_detail(request)


async def add_campaign_targets(
    request: web.Request, actor: Actor, body: Targets
) -> campaigns.Added:
    """Targets of the campaign `{id}` of the path, from the one source `body` names."""
    app = request.app
    now = app[DISPATCH].now()
    async with trail(request, actor).act(Event.CAMPAIGN) as (session, act):
        campaign = await _campaign(session, request)
        if body.phones is not None:
            phones, source = body.phones, "list"
        elif body.csv is not None:
            phones, source = campaigns.parse_phones(body.csv), "csv"
        else:
            tz = app[DISPATCH].tz
            since = parse_bound(body.callers.start, tz, "from")
            until = parse_bound(body.callers.end, tz, "to")
            phones = await campaigns.past_callers(session, since, until, body.callers.hotline)
            source = "callers"
        added = await campaigns.add_targets(session, campaign, phones, now)
        act.object = str(campaign.id)
        act.detail = {"action": "targets", "source": source, **added.__dict__}
    return added


async def add_targets(request: web.Request, call: Call):
    return (await add_campaign_targets(request, call.actor, call.body)).__dict__


async def change_state(
    request: web.Request, actor: Actor, action: Literal["start", "pause"]
) -> Campaign:
    """开始/暂停 the campaign `{id}` of the path."""
    allowed = {"start": ("draft", "paused"), "pause": ("running",)}[action]
    to = {"start": "running", "pause": "paused"}[action]
    now = request.app[DISPATCH].now()
    async with trail(request, actor).act(Event.CAMPAIGN) as (session, act):
        campaign = await _campaign(session, request)
        act.object, act.detail = str(campaign.id), {"action": action}
        if campaign.state not in allowed:
            label = STATE_LABELS[campaign.state]
            raise CampaignError(f"外呼任务{label},不能{'开始' if action == 'start' else '暂停'}")
        sip = request.app[SETTINGS].sip
        if action == "start" and not campaigns.prompts_ready(sip, campaign):
            raise CampaignError("外呼语音提示尚未生成,请检查语音合成工具后重建任务")
        campaign.state, campaign.updated_at = to, now
    return campaign


def state_change(action: Literal["start", "pause"]):
    async def change(request: web.Request, call: Call):
        return view(await change_state(request, call.actor, action))

    change.__name__ = f"{action}_campaign"
    return change


async def export_response(request: web.Request, actor: Actor) -> web.Response:
    """The campaign `{id}` of the path as an XLSX download (numbers masked); audited."""
    async with request.app[SESSIONS]() as session:
        campaign = await _campaign(session, request)
        rows = await campaigns.export_rows(session, campaign)
    questions = [Column(f"q{i}", q["text"][:60]) for i, q in enumerate(campaign.questions)]
    columns = [
        Column("phone", "号码"),
        Column("state", "状态"),
        Column("attempts", "呼叫次数"),
        *questions,
    ]
    keys = [c.key for c in columns]
    table = Table(campaign.name[:31], columns, [dict(zip(keys, r, strict=True)) for r in rows])
    await trail(request, actor).alone(
        Event.EXPORT, f"campaign {campaign.id}", detail={"rows": len(rows), "format": "xlsx"}
    )
    name = f"campaign_{campaign.id}.xlsx"
    return web.Response(
        body=to_xlsx(table),
        content_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def export(request: web.Request, call: Call):
    return await export_response(request, call.actor)


def valid_phone(phone: str) -> str:
    if not PHONE.match(phone):
        raise InvalidInput("号码格式不正确", code="invalid_phone")
    return phone


async def do_not_call_page(request: web.Request, page: int, size: int) -> tuple[list[dict], int]:
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(DoNotCall))
        rows = await session.scalars(
            select(DoNotCall)
            .order_by(DoNotCall.added_at.desc(), DoNotCall.phone)
            .offset((page - 1) * size)
            .limit(size)
        )
        items = [
            {
                "phone": r.phone,
                "reason": r.reason,
                "added_by": r.added_by,
                "added_at": r.added_at.isoformat(),
            }
            for r in rows
        ]
    return items, total or 0


async def list_dnc(request: web.Request, call: Call):
    q: Page = call.query
    items, total = await do_not_call_page(request, q.page, q.page_size)
    return page_answer(items, total, q.page, q.page_size)


async def bar(request: web.Request, actor: Actor, phone: str, reason: str) -> None:
    """免打扰: `phone` is never called by a campaign again (audited)."""
    phone = valid_phone(phone)
    now: datetime = request.app[DISPATCH].now()
    detail = {"action": "add", "phone": mask_phone(phone)}
    async with trail(request, actor).act(Event.DNC, mask_phone(phone), detail) as (session, _):
        row = await session.get(DoNotCall, phone)
        if row is None:
            row = DoNotCall(phone=phone, reason=reason, added_by=actor.username)
            session.add(row)
        row.reason, row.added_at = reason, now


async def unbar(request: web.Request, actor: Actor, phone: str) -> None:
    phone = valid_phone(phone)
    detail = {"action": "remove", "phone": mask_phone(phone)}
    async with trail(request, actor).act(Event.DNC, mask_phone(phone), detail) as (session, _):
        row = await session.get(DoNotCall, phone)
        if row is None:
            raise campaigns.NotOnList(mask_phone(phone))
        await session.delete(row)


async def put_dnc(request: web.Request, call: Call):
    phone, body = request.match_info["phone"], call.body
    await bar(request, call.actor, phone, body.reason)
    return {"phone": phone, "reason": body.reason}


async def delete_dnc(request: web.Request, call: Call):
    phone = request.match_info["phone"]
    await unbar(request, call.actor, phone)
    return {"phone": phone, "removed": True}


routes = [
    ApiRoute(
        "POST",
        "/api/v1/campaigns",
        create,
        "新建外呼任务(民意调查/政策宣传)",
        roles=ADMIN,
        body=CreateCampaign,
        status=201,
        tags=("campaigns",),
        creates=("id", "/api/v1/campaigns/{id}"),
    ),
    ApiRoute(
        "GET",
        "/api/v1/campaigns",
        listing,
        "外呼任务列表",
        roles=VIEWERS,
        query=Page,
        tags=("campaigns",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/campaigns/{id}",
        detail,
        "外呼任务与实时结果",
        roles=VIEWERS,
        tags=("campaigns",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/campaigns/{id}/targets",
        add_targets,
        "添加外呼号码(列表、CSV、历史来电)",
        roles=ADMIN,
        body=Targets,
        tags=("campaigns",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/campaigns/{id}/start",
        state_change("start"),
        "开始或继续外呼",
        roles=ADMIN,
        tags=("campaigns",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/campaigns/{id}/pause",
        state_change("pause"),
        "暂停外呼",
        roles=ADMIN,
        tags=("campaigns",),
        errors=(409,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/campaigns/{id}/export",
        export,
        "导出外呼结果(XLSX)",
        roles=VIEWERS,
        tags=("campaigns",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/do-not-call",
        list_dnc,
        "免打扰名单",
        roles=ADMIN,
        query=Page,
        tags=("campaigns",),
    ),
    ApiRoute(
        "PUT",
        "/api/v1/do-not-call/{phone}",
        put_dnc,
        "加入免打扰名单",
        roles=ADMIN,
        body=DoNotCallBody,
        tags=("campaigns",),
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/do-not-call/{phone}",
        delete_dnc,
        "移出免打扰名单",
        roles=ADMIN,
        tags=("campaigns",),
    ),
]
