"""HTTP entrypoints of the knowledge base: live search for the agent console, entries
and their review workflow (草稿 → 已审核 → 已发布 → 已失效)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from aiohttp import web
from pydantic import BaseModel, Field

from accounts.domain import Role
from app.http import ApiRoute, Call, StrictBody
from app.keys import KB, SESSIONS
from knowledge_base import services
from knowledge_base.domain import EntryContent
from knowledge_base.services import EntryView

EDITORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


class SearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=500)
    top: int = Field(5, ge=1, le=50)
    category: str | None = None
    hotline: str | None = None


class EntryBody(StrictBody):
    title: str = Field(min_length=1, max_length=200)
    questions: list[str] = Field(min_length=1, max_length=50)
    answer: str = Field(min_length=1, max_length=20000)
    category: str = Field(min_length=1, max_length=40)
    unit: str = Field(min_length=1, max_length=40)
    hotlines: list[str] = []
    valid_from: date | None = None
    valid_to: date | None = None

    def content(self) -> EntryContent:
        return EntryContent(
            self.title,
            tuple(self.questions),
            self.answer,
            self.category,
            self.unit,
            tuple(self.hotlines),
            self.valid_from,
            self.valid_to,
        )


class CreateEntry(EntryBody):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-.]{1,60}$")


class Note(StrictBody):
    note: str | None = Field(None, max_length=1000)


def entry_json(view: EntryView) -> dict:
    content = asdict(view.content)
    return {
        "id": view.external_id,
        "status": view.status.value,
        "version": view.version,
        "updated_at": view.updated_at.isoformat(),
        **content,
        "questions": list(view.content.questions),
        "hotlines": list(view.content.hotlines),
    }


async def search(request: web.Request, call: Call):
    q: SearchQuery = call.query
    hits = request.app[KB].search(q.q, q.top, category=q.category, hotline=q.hotline)
    return {
        "items": [
            {**hit.as_json(), "category": hit.category, "unit": hit.unit, "answer": hit.answer}
            for hit in hits
        ]
    }


async def get_entry(request: web.Request, call: Call):
    sessions = request.app[SESSIONS]
    entry_id = request.match_info["id"]
    view = await services.get_entry(sessions, entry_id)
    history = await services.entry_history(sessions, entry_id)
    return {
        **entry_json(view),
        "history": [
            {
                "version": v.version,
                "created_at": v.created_at.isoformat(),
                "created_by": v.created_by,
                "note": v.note,
                "title": v.content.title,
            }
            for v in history
        ],
    }


async def create_entry(request: web.Request, call: Call):
    body: CreateEntry = call.body
    view = await services.create_entry(
        request.app[SESSIONS], body.id, body.content(), by=call.actor.username
    )
    return entry_json(view)


async def edit_entry(request: web.Request, call: Call):
    view = await request.app[KB].edit(
        request.match_info["id"], call.body.content(), by=call.actor.username
    )
    return entry_json(view)


def _transition(name: str):
    async def handler(request: web.Request, call: Call):
        kb, entry_id, by = request.app[KB], request.match_info["id"], call.actor.username
        note = call.body.note
        if name in ("publish", "expire"):  # these change what agents find: refresh the index
            view = await getattr(kb, name)(entry_id, by=by, note=note)
        else:
            view = await getattr(services, name)(request.app[SESSIONS], entry_id, by=by, note=note)
        return entry_json(view)

    handler.__name__ = f"kb_{name}"
    return handler


LABELS = {"review": "审核通过", "reject": "审核退回", "publish": "发布", "expire": "下线"}

routes = [
    ApiRoute(
        "GET",
        "/api/v1/kb/search",
        search,
        "知识库检索(坐席边输入边检索)",
        query=SearchQuery,
        tags=("kb",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/kb/entries",
        create_entry,
        "新增知识条目(草稿)",
        roles=EDITORS,
        body=CreateEntry,
        status=201,
        creates=("id", "/api/v1/kb/entries/{id}"),
        tags=("kb",),
    ),
    ApiRoute("GET", "/api/v1/kb/entries/{id}", get_entry, "知识条目与版本历史", tags=("kb",)),
    ApiRoute(
        "PUT",
        "/api/v1/kb/entries/{id}",
        edit_entry,
        "修改知识条目(生成新版本)",
        roles=EDITORS,
        body=EntryBody,
        tags=("kb",),
    ),
    *(
        ApiRoute(
            "POST",
            f"/api/v1/kb/entries/{{id}}/{name}",
            _transition(name),
            f"知识条目{label}",
            roles=EDITORS,
            body=Note,
            tags=("kb",),
            errors=(409,),
        )
        for name, label in LABELS.items()
    ),
]
