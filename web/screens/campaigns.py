"""外呼任务: the admin's campaign screens and the do-not-call list (免打扰名单).

    /web/admin/campaigns              list; new campaign (DTMF questionnaire, hours,
                                      attempts, pace, concurrency)
    /web/admin/campaigns/{id}         definition, targets (CSV upload, a list, or past
                                      callers), 开始/暂停, live results, XLSX export
    /web/admin/campaigns/{id}/results the live results as JSON (the page polls it)
    /web/admin/do-not-call            the list; add, remove

Forms are validated by the API's own bodies (`CreateCampaign`, `Targets`) and handled by
the API's use cases (callcenter/campaign_routes.py), audited the same way. Rejected
input redraws the page with the Chinese message and the input kept; never a 500.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from accounts.domain import Role
from app.errors import AppError
from app.http import error_text, page_number
from callcenter import campaign_routes as api
from callcenter.campaign_routes import KIND_LABELS, CreateCampaign, Targets
from callcenter.campaigns import SETTLED
from web.forms import FormError, read_form, texts
from web.render import page_count, render
from web.session import actor_of, flash, screen

CAMPAIGNS = "/web/admin/campaigns"
DNC = "/web/admin/do-not-call"
PAGE_SIZE = 50
REFRESH_SECONDS = 5  # the results on a campaign's page
QUESTION_BLOCKS = 3  # empty question blocks on the new campaign form (more: a button)
TARGET_LABELS = {
    "pending": "待呼叫",
    "calling": "呼叫中",
    "done": "已完成",
    "partial": "部分回答",
    "failed": "未接通",
    "dnc": "免打扰",
}
FIELD_LABELS = {
    "name": "任务名称",
    "kind": "类型",
    "intro": "开场白",
    "thanks": "结束语",
    "questions": "问卷",
    "hours": "外呼时段",
    "attempts": "呼叫次数",
    "retry_minutes": "重拨间隔(分钟)",
    "pace_per_minute": "每分钟外呼数",
    "max_concurrent": "并发数",
    "phones": "号码",
    "csv": "CSV 文件",
    "callers": "历史来电",
    "from": "开始日期",
    "to": "结束日期",
    "hotline": "热线",
    "text": "题目",
    "options": "选项",
}
OPTION_LINE = re.compile(r"^\s*([0-9])\s*[=:：、.\s]\s*(.+?)\s*$")
BLANK = ("", "")


def _where(loc: tuple) -> str:
    """A pydantic location in the form's words: ("questions", 1, "text") → 问卷第2题题目."""
    words, previous = [], None
    for part in loc:
        if isinstance(part, int):
            if previous == "questions":
                words.append(f"第{part + 1}题")
        elif part != "[key]":
            words.append(FIELD_LABELS.get(str(part), str(part)))
        previous = part
    return "".join(words)


def validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """The API's body on a form; messages name the form's fields in Chinese."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            where = _where(err["loc"])
            if err["type"] == "value_error":  # the model's own words
                text = str(err.get("ctx", {}).get("error", "")) or error_text(err["type"])
            else:
                text = error_text(err["type"])
            parts.append(f"{where or '表单'}:{text}")
        raise FormError(";".join(parts)) from None


def questions_of(form: MultiDictProxy) -> list[dict[str, Any]]:
    """The question blocks (`question` + `options`, one "键=名称" a line); empty ones skipped."""
    texts_ = [t for t in form.getall("question", []) if isinstance(t, str)]
    options = [o for o in form.getall("options", []) if isinstance(o, str)]
    questions = []
    for number, (text, raw) in enumerate(zip(texts_, options, strict=False), start=1):
        if (text.strip(), raw.strip()) == BLANK:
            continue
        choices: dict[str, str] = {}
        for line in raw.splitlines():
            if not line.strip():
                continue
            match = OPTION_LINE.match(line)
            if match is None:
                raise FormError(f"第{number}题的选项每行一个,格式为“按键=名称”,如“1=满意”")
            choices[match.group(1)] = match.group(2)
        questions.append({"text": text.strip(), "options": choices})
    return questions


def campaign_body(form: MultiDictProxy) -> CreateCampaign:
    names = ("name", "kind", "intro", "thanks", "attempts", "retry_minutes")
    data: dict[str, Any] = texts(form, *names, "pace_per_minute", "max_concurrent")
    data["hours"] = [form.get("hour_start", ""), form.get("hour_end", "")]
    data["questions"] = questions_of(form)
    return validate(CreateCampaign, data)


# ---------------------------------------------------------------------- list, create


async def _draw_list(request, error=None, form=None, status=200) -> web.StreamResponse:
    page = page_number(request.query.get("page"))
    items, total = await api.campaign_page(request, page, PAGE_SIZE)
    values: Any = form or {}
    blocks = list(
        zip(values.getall("question", []), values.getall("options", []), strict=False)
        if form
        else []
    )
    blocks += [BLANK] * max(0, QUESTION_BLOCKS - len(blocks))
    return await render(
        request,
        "admin_campaigns.html",
        {
            "campaigns": items,
            "total": total,
            "page": page,
            "pages": page_count(total, PAGE_SIZE),
            "kinds": KIND_LABELS,
            "form": values,
            "blocks": blocks,
            "error": error,
        },
        status=status,
    )


@screen(Role.ADMIN)
async def campaigns_page(request: web.Request) -> web.StreamResponse:
    return await _draw_list(request)


@screen(Role.ADMIN)
async def campaign_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        campaign = await api.create_campaign(request, await actor_of(request), campaign_body(form))
    except AppError as exc:
        return await _draw_list(request, error=exc.message, form=form, status=exc.status)
    await flash(request, "ok", f"已新建外呼任务“{campaign.name}”,请添加号码后开始外呼")
    raise web.HTTPFound(f"{CAMPAIGNS}/{campaign.id}")


# ---------------------------------------------------------------------- one campaign


def _here(request: web.Request) -> str:
    return f"{CAMPAIGNS}/{request.match_info['id']}"


async def _draw_campaign(request, error=None, form=None, status=200) -> web.StreamResponse:
    campaign = await api.campaign_detail(request)
    return await render(
        request,
        "admin_campaign.html",
        {
            "c": campaign,
            "results": campaign["results"],
            "target_labels": TARGET_LABELS,
            "settled": SETTLED,
            "refresh_seconds": REFRESH_SECONDS,
            "form": form or {},
            "error": error,
        },
        status=status,
    )


@screen(Role.ADMIN)
async def campaign_page(request: web.Request) -> web.StreamResponse:
    return await _draw_campaign(request)


@screen(Role.ADMIN)
async def campaign_results(request: web.Request) -> web.StreamResponse:
    campaign = await api.campaign_detail(request)
    answer = {
        "state": campaign["state"],
        "state_label": campaign["state_label"],
        "results": campaign["results"],
    }
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


async def _targets_body(form: MultiDictProxy) -> Targets:
    source = form.get("source")
    if source == "csv":
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise FormError("请选择要上传的 CSV 文件")
        raw = upload.file.read(1_000_001)
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves GB18030
            try:
                return validate(Targets, {"csv": raw.decode(encoding)})
            except UnicodeDecodeError:
                continue
        raise FormError("CSV 文件编码无法识别(请保存为 UTF-8 或 GBK)")
    if source == "list":
        phones = re.split(r"[\s,，;；]+", str(form.get("phones", "")).strip())
        return validate(Targets, {"phones": [p for p in phones if p]})
    if source == "callers":
        callers = texts(form, "from", "to", "hotline")
        return validate(Targets, {"callers": callers})
    raise FormError("请选择号码来源")


@screen(Role.ADMIN)
async def campaign_targets(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        body = await _targets_body(form)
        added = await api.add_campaign_targets(request, await actor_of(request), body)
    except AppError as exc:
        return await _draw_campaign(request, error=exc.message, form=form, status=exc.status)
    text = (
        f"已添加 {added.added} 个号码;重复 {added.duplicates} 个,"
        f"格式不正确 {added.invalid} 个,免打扰 {added.do_not_call} 个"
    )
    await flash(request, "ok", text)
    raise web.HTTPFound(_here(request))


def _state_change(action: str):
    done = {"start": "已开始外呼", "pause": "已暂停外呼"}[action]

    @screen(Role.ADMIN)
    async def change(request: web.Request) -> web.StreamResponse:
        try:
            await api.change_state(request, await actor_of(request), action)
        except AppError as exc:
            await flash(request, "error", exc.message)
        else:
            await flash(request, "ok", done)
        raise web.HTTPFound(_here(request))

    change.__name__ = f"campaign_{action}"
    return change


campaign_start = _state_change("start")
campaign_pause = _state_change("pause")


@screen(Role.ADMIN)
async def campaign_export(request: web.Request) -> web.StreamResponse:
    return await api.export_response(request, await actor_of(request))


# ---------------------------------------------------------------------- do-not-call


async def _draw_dnc(request, error=None, form=None, status=200) -> web.StreamResponse:
    page = page_number(request.query.get("page"))
    items, total = await api.do_not_call_page(request, page, PAGE_SIZE)
    return await render(
        request,
        "admin_dnc.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": page_count(total, PAGE_SIZE),
            "form": form or {},
            "error": error,
        },
        status=status,
    )


@screen(Role.ADMIN)
async def dnc_page(request: web.Request) -> web.StreamResponse:
    return await _draw_dnc(request)


@screen(Role.ADMIN)
async def dnc_add(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    fields = texts(form, "phone", "reason")
    try:
        body = validate(api.DoNotCallBody, {"reason": fields.get("reason", "")})
        await api.bar(request, await actor_of(request), fields.get("phone", ""), body.reason)
    except AppError as exc:
        return await _draw_dnc(request, error=exc.message, form=form, status=exc.status)
    await flash(request, "ok", f"{fields['phone']} 已加入免打扰名单,外呼任务不再拨打")
    raise web.HTTPFound(DNC)


@screen(Role.ADMIN)
async def dnc_remove(request: web.Request) -> web.StreamResponse:
    phone = request.match_info["phone"]
    try:
        await api.unbar(request, await actor_of(request), phone)
    except AppError as exc:
        await flash(request, "error", exc.message)
    else:
        await flash(request, "ok", f"{phone} 已移出免打扰名单")
    raise web.HTTPFound(DNC)


def add_campaign_routes(app: web.Application) -> None:
    one = r"/web/admin/campaigns/{id:\d{1,12}}"
    app.router.add_get(CAMPAIGNS, campaigns_page)
    app.router.add_post(CAMPAIGNS, campaign_create)
    app.router.add_get(one, campaign_page)
    app.router.add_get(f"{one}/results", campaign_results)
    app.router.add_post(f"{one}/targets", campaign_targets)
    app.router.add_post(f"{one}/start", campaign_start)
    app.router.add_post(f"{one}/pause", campaign_pause)
    app.router.add_get(f"{one}/export.xlsx", campaign_export)
    app.router.add_get(DNC, dnc_page)
    app.router.add_post(DNC, dnc_add)
    app.router.add_post(DNC + r"/{phone:\+?\d{1,20}}/delete", dnc_remove)
