"""The organisation the centre dispatches to: hotlines, units (二级/三级) and the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from config import HotlineSettings
from dispatch.storage import Category, Hotline, HotlineChange, Unit

EXTERNAL = "external"


async def sync_hotlines(session: AsyncSession, hotlines: list[HotlineSettings]) -> None:
    """The configuration seeds hotlines the database does not have yet; a hotline already
    there keeps what admins made of it at run time (`update_hotline`)."""
    for item in hotlines:
        if await session.get(Hotline, item.number) is None:
            session.add(Hotline(number=item.number, name=item.name, mode=item.mode))


async def hotline_json(session: AsyncSession, hotline: Hotline) -> dict[str, Any]:
    handoff = None
    if hotline.handoff_unit_id is not None:
        handoff = await session.scalar(select(Unit.code).where(Unit.id == hotline.handoff_unit_id))
    return {
        "number": hotline.number,
        "name": hotline.name,
        "mode": hotline.mode,
        "handoff_unit": handoff,
    }


async def update_hotline(
    session: AsyncSession, number: str, changes: Mapping[str, Any], by: str, now: datetime
) -> Hotline:
    """修改热线 at run time: name, mode and, for mode `external`, the unit standing for the
    hotline's own system (`handoff_unit`). Each change is recorded (who, when, old → new);
    every node reads hotlines from the database, so it applies everywhere at once."""
    hotline = await session.get(Hotline, number)
    if hotline is None:
        raise NotFound(f"未知热线: {number}", code="unknown_hotline")
    before = await hotline_json(session, hotline)
    after = {**before, **{k: v for k, v in changes.items() if k in before}}
    if after["mode"] != EXTERNAL:
        if changes.get("handoff_unit"):
            raise InvalidInput(
                "只有“转外部系统办理”模式需要指定移交单位", code="handoff_unit_not_external"
            )
        after["handoff_unit"] = None
    elif not after["handoff_unit"]:
        raise InvalidInput(
            "“转外部系统办理”模式须指定移交单位(代表该热线原业务系统的单位)",
            code="handoff_unit_required",
        )
    handoff_id = None
    if after["handoff_unit"]:
        unit = await session.scalar(select(Unit).where(Unit.code == after["handoff_unit"]))
        if unit is None or not unit.active:
            raise InvalidInput(f"未知或已停用的单位: {after['handoff_unit']}", code="unknown_unit")
        handoff_id = unit.id
    diff = {
        k: [before[k], after[k]] for k in ("name", "mode", "handoff_unit") if before[k] != after[k]
    }
    if diff:
        hotline.name, hotline.mode, hotline.handoff_unit_id = (
            after["name"],
            after["mode"],
            handoff_id,
        )
        session.add(HotlineChange(number=number, at=now, by=by, changes=diff))
    return hotline


async def hotline_changes(
    session: AsyncSession, number: str, limit: int = 50
) -> list[HotlineChange]:
    rows = await session.scalars(
        select(HotlineChange)
        .where(HotlineChange.number == number)
        .order_by(HotlineChange.id.desc())
        .limit(limit)
    )
    return list(rows)


async def create_unit(
    session: AsyncSession, code: str, name: str, parent: str | None = None, email: str | None = None
) -> Unit:
    if await session.scalar(select(Unit.id).where(Unit.code == code)):
        raise Conflict(f"单位编码已存在: {code}", code="unit_exists")
    parent_row = None
    if parent:
        parent_row = await session.scalar(select(Unit).where(Unit.code == parent))
        if parent_row is None:
            raise InvalidInput(f"未知上级单位: {parent}", code="unknown_unit")
    unit = Unit(
        code=code,
        name=name,
        parent_id=parent_row.id if parent_row else None,
        level=parent_row.level + 1 if parent_row else 1,
        email=email,
        path="",
    )
    session.add(unit)
    await session.flush()
    unit.path = (parent_row.path if parent_row else "/") + f"{unit.id}/"
    return unit


async def create_category(
    session: AsyncSession,
    code: str,
    name: str,
    parent: str | None = None,
    default_unit: str | None = None,
) -> Category:
    if await session.get(Category, code):
        raise Conflict(f"分类编码已存在: {code}", code="category_exists")
    level = 1
    if parent:
        parent_row = await session.get(Category, parent)
        if parent_row is None:
            raise InvalidInput(f"未知上级分类: {parent}", code="unknown_category")
        if parent_row.level >= 3:
            raise InvalidInput("派单目录最多三级", code="category_too_deep")
        level = parent_row.level + 1
    unit_id = None
    if default_unit:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == default_unit))
        if unit_id is None:
            raise InvalidInput(f"未知单位: {default_unit}", code="unknown_unit")
    category = Category(
        code=code, name=name, parent_code=parent, level=level, default_unit_id=unit_id
    )
    session.add(category)
    await session.flush()
    return category


async def _unit(session: AsyncSession, code: str) -> Unit:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise InvalidInput(f"未知单位: {code}", code="unknown_unit")
    return unit


async def update_unit(session: AsyncSession, code: str, name: str, email: str | None) -> Unit:
    """The code is the unit's identity in orders and the API; its name and e-mail change."""
    unit = await _unit(session, code)
    unit.name, unit.email = name, email
    return unit


async def set_unit_active(session: AsyncSession, code: str, active: bool) -> Unit:
    """停用 / 启用: an inactive unit gets no new orders; its history stays."""
    unit = await _unit(session, code)
    if not active:
        children = await session.scalar(
            select(func.count(Unit.id)).where(Unit.parent_id == unit.id, Unit.active.is_(True))
        )
        if children:
            raise InvalidInput("请先停用该单位的下级单位", code="unit_has_children")
    elif unit.parent_id is not None:
        parent = await session.get(Unit, unit.parent_id)
        if parent is not None and not parent.active:
            raise InvalidInput("上级单位已停用,请先启用上级单位", code="parent_inactive")
    unit.active = active
    return unit


async def update_category(
    session: AsyncSession, code: str, name: str, unit_code: str | None
) -> Category:
    """派单目录: a category's name and the unit it is dispatched to by default (None: none)."""
    category = await session.get(Category, code)
    if category is None:
        raise InvalidInput(f"未知分类: {code}", code="unknown_category")
    unit_id = None
    if unit_code:
        unit = await _unit(session, unit_code)
        if not unit.active:
            raise InvalidInput(f"单位已停用: {unit.name}", code="unit_inactive")
        unit_id = unit.id
    category.name, category.default_unit_id = name, unit_id
    return category
