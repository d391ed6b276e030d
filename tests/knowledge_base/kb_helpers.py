"""Helpers shared by the knowledge-base tests (a module of its own: every test folder
has a `conftest`, so `from conftest import ...` finds whichever was imported first)."""

from __future__ import annotations

from knowledge_base.domain import EntryContent


def content(**changes: object) -> EntryContent:
    fields: dict[str, object] = {
        "title": "住房公积金提取租房",
        "questions": ("租房可以提取住房公积金吗？",),
        "answer": "无房职工在本市租房自住的，可每年提取公积金支付房租。",
        "category": "住房公积金",
        "unit": "市住房公积金管理中心",
    }
    fields.update(changes)
    return EntryContent(**fields)  # type: ignore[arg-type]
