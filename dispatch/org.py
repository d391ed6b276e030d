"""The organisation the centre dispatches to: hotlines, units (二级/三级) and the catalogue."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput
from config import HotlineSettings
from dispatch.storage import Category, Hotline, Unit


async def sync_hotlines(session: AsyncSession, hotlines: list[HotlineSettings]) -> None:
    """The configured hotlines are the truth: add new ones, update names and modes."""
    for item in hotlines:
        row = await session.get(Hotline, item.number)
        if row is None:
            session.add(Hotline(number=item.number, name=item.name, mode=item.mode))
        else:
            row.name, row.mode = item.name, item.mode


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
