"""Notifications: a subscriber to appended order events. Every recipient gets an in-app
notification; with e-mail enabled, users with an address also get it by e-mail (queued
in the outbox in the same transaction, sent by integrations.outbox).

Who hears of what: the handling unit of new work and of alarms; its unit leaders (单位领导,
of that unit or a unit above it) of overdue and escalated orders; dispatchers of returns;
supervisors of replies to review, extension requests, overdue orders and bad ratings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.actor_cache import ActorCache
from accounts.domain import Role
from accounts.storage import User
from app.db import insert_rows
from dispatch.lifecycle import Flag, State
from dispatch.services import Appended, UnitDirectory
from dispatch.storage import Notification, Order
from integrations.outbox import enqueue_email

UNIT, DISPATCHERS, SUPERVISORS = "unit", Role.DISPATCHER, Role.SUPERVISOR
# 单位领导 of the handling unit or of a unit above it: the ladder's second rung
# (DESIGN §4: unit → unit leader → supervisor → leadership report).
LEADERS = "leaders"

# action -> (who, message template); {number} is filled in.
RULES: dict[str, list[tuple[str, str]]] = {
    "dispatch": [(UNIT, "新工单 {number} 已派至本单位,请及时签收")],
    "redispatch": [(UNIT, "工单 {number} 已改派至本单位,请及时签收")],
    "subdispatch": [(UNIT, "工单 {number} 已下派至本单位,请及时办理")],
    "reopen": [(UNIT, "工单 {number} 已重办,请重新办理")],
    "return": [(DISPATCHERS, "工单 {number} 被退单,请改派或坚持原派")],
    "object": [(DISPATCHERS, "工单 {number} 收到派单异议,请审核")],
    "reply": [(SUPERVISORS, "工单 {number} 已答复,请审核")],
    "extend_request": [(SUPERVISORS, "工单 {number} 申请延期,请审批")],
    "extend_decide": [(UNIT, "工单 {number} 的延期申请已审批")],
    "supervise": [(UNIT, "工单 {number} 被督办,请加快办理")],
    "suspend": [(SUPERVISORS, "工单 {number} 已挂起等待市民,办理时限暂停计算")],
    Flag.ACCEPT_WARNING.value: [(UNIT, "工单 {number} 即将超过签收时限")],
    Flag.ACCEPT_OVERDUE.value: [
        (UNIT, "工单 {number} 已超过签收时限"),
        (SUPERVISORS, "工单 {number} 超时未签收"),
    ],
    Flag.WARNING.value: [(UNIT, "工单 {number} 办理时间已用75%,请抓紧办理(黄牌预警)")],
    Flag.ESCALATED.value: [
        (UNIT, "工单 {number} 超期未办结,已升级督办"),
        (LEADERS, "本单位工单 {number} 超期未办结,已升级督办,请关注"),
        (SUPERVISORS, "工单 {number} 超期未办结,已升级至领导督办"),
    ],
    Flag.VERIFY_WARNING.value: [(SUPERVISORS, "工单 {number} 的差评核实时限将到,请尽快核实")],
    Flag.VERIFY_OVERDUE.value: [(SUPERVISORS, "工单 {number} 的差评已超过核实时限,请立即核实")],
    Flag.OVERDUE.value: [
        (UNIT, "工单 {number} 已超期(红牌),请立即办理"),
        (LEADERS, "本单位工单 {number} 已超期(红牌),请督促办理"),
        (SUPERVISORS, "工单 {number} 已超期"),
    ],
}


def _targets(appended: Appended) -> list[tuple[str, str]]:
    event = appended.event
    if event.action == "review" and not event.data.get("approve"):
        return [(UNIT, "工单 {number} 的答复被退回,请重新答复")]
    if event.action == "object_decide":
        if event.data.get("accept"):  # the new unit; the objecting one sees the event
            return [(UNIT, "工单 {number} 已改派至本单位,请及时签收")]
        return [(UNIT, "工单 {number} 的派单异议未被采纳,请按要求办理")]
    if event.action == "callback" and event.to_state == State.CALLBACK_PENDING:
        return [(SUPERVISORS, "工单 {number} 回访不满意或未解决,请核实")]
    return RULES.get(event.action, [])


EMAIL_SUBJECT = "【12345热线】{message}"
EMAIL_BODY = "{message}\n\n工单编号:{number}\n时间:{at}\n\n此邮件由系统自动发送,请登录系统处理。"


@dataclass(frozen=True)
class Recipient:
    id: int
    hotlines: tuple[str, ...]
    email: str | None


# Active users of a unit or of a role, read once and kept: notifying is on every
# dispatched registration (issue 11), the users change seldom. Kept like the actors
# behind tokens (accounts/actor_cache.py: forgotten at every commit that changes a user
# here and when another node says so) and RECIPIENTS_SECONDS at most, for changes made
# outside the ORM.
RECIPIENTS_SECONDS = 30.0
_recipients = ActorCache(RECIPIENTS_SECONDS)


async def recipients(session: AsyncSession, key: tuple[str, object]) -> list[Recipient]:
    found = _recipients.get(key)
    if found is not None:
        return found
    kind, value = key
    if kind == UNIT:  # the unit's staff; its leaders hear of alarms only (LEADERS)
        condition = (User.unit_id == value) & (User.role != Role.LEADER.value)
    elif kind == LEADERS:
        condition = (User.role == Role.LEADER.value) & User.unit_id.in_(value)
    else:
        condition = User.role == value
    stmt = select(User.id, User.hotlines, User.email).where(condition, User.active.is_(True))
    found = [Recipient(i, tuple(h or ()), e) for i, h, e in await session.execute(stmt)]
    _recipients.put(key, found)
    return found


async def notify(
    session: AsyncSession, appended: Appended, units: UnitDirectory, email: bool = False
) -> None:
    rows = []
    for who, template in _targets(appended):
        if who in (UNIT, LEADERS):
            unit = units.by_code.get(appended.view.assignee or "")
            if unit is None:
                continue
            key: tuple[str, object] = (UNIT, unit.id)
            if who == LEADERS:  # the unit and the units above it: "/1/5/12/"
                key = (LEADERS, tuple(int(i) for i in unit.path.strip("/").split("/")))
        else:
            key = ("role", who.value)
        for user in await recipients(session, key):
            if user.hotlines and appended.hotline not in user.hotlines:
                continue
            message = template.format(number=appended.number)
            rows.append(
                Notification(
                    user_id=user.id,
                    order_id=appended.order_id,
                    kind=appended.event.action,
                    message=message,
                    created_at=appended.event.at,
                )
            )
            if email and user.email:
                body = EMAIL_BODY.format(
                    message=message,
                    number=appended.number,
                    at=appended.event.at.isoformat(timespec="seconds"),
                )
                enqueue_email(
                    session,
                    user.email,
                    EMAIL_SUBJECT.format(message=message),
                    body,
                    appended.event.at,
                )
    await insert_rows(session, rows)


async def list_for(
    session: AsyncSession, user_id: int, unread_only: bool, page: int, page_size: int
) -> tuple[list[Notification], int]:
    """One page of a user's notifications, newest first, and how many there are."""
    condition = Notification.user_id == user_id
    if unread_only:
        condition = condition & Notification.read_at.is_(None)
    total = await session.scalar(select(func.count(Notification.id)).where(condition))
    rows = await session.scalars(
        select(Notification)
        .where(condition)
        .order_by(Notification.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list(rows), total


async def unread_for(session: AsyncSession, username: str, limit: int) -> tuple[int, list]:
    """The unread count of a user and the newest unread ones with their order numbers."""
    user_id = select(User.id).where(User.username == username).scalar_subquery()
    unread = (Notification.user_id == user_id, Notification.read_at.is_(None))
    count = await session.scalar(select(func.count(Notification.id)).where(*unread))
    rows = await session.execute(
        select(Notification, Order.number)
        .outerjoin(Order, Order.id == Notification.order_id)
        .where(*unread)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return count or 0, [(n, number) for n, number in rows]


async def mark_read(
    session: AsyncSession, username: str, now: datetime, ids: list[int] | None = None
) -> int:
    """已读: the user's own unread notifications (`ids`, or all); how many were marked."""
    user_id = select(User.id).where(User.username == username).scalar_subquery()
    stmt = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await session.execute(stmt.values(read_at=now))
    return result.rowcount or 0
