"""The work-order life cycle (工单流转): states, actions, who may do what, and clocks.

Everything here is pure: no database, no clock of its own. An order is its append-only
event log; `replay(events, policy)` folds the log into an `OrderView` (state, units,
flags, deadlines), and `decide(view, action, payload, actor, ctx)`
checks one requested action and returns the `Event` to append, or raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from accounts.domain import Actor, Role
from config import DeadlineSettings
from dispatch.exceptions import ActionForbidden, ActionRejected, IllegalTransition


class State(StrEnum):
    REGISTERED = "registered"  # 已登记
    DISPATCHED = "dispatched"  # 已派单
    ACCEPTED = "accepted"  # 已签收
    RETURNED = "returned"  # 已退单
    REPLIED = "replied"  # 已答复
    CALLBACK_PENDING = "callback_pending"  # 待回访
    CLOSED = "closed"  # 已办结
    MERGED = "merged"  # 已并单
    INVALID = "invalid"  # 无效


STATE_LABELS = {
    State.REGISTERED: "已登记",
    State.DISPATCHED: "已派单",
    State.ACCEPTED: "已签收",
    State.RETURNED: "已退单",
    State.REPLIED: "已答复",
    State.CALLBACK_PENDING: "待回访",
    State.CLOSED: "已办结",
    State.MERGED: "已并单",
    State.INVALID: "无效",
}


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    APP = "app"
    WECHAT = "wechat"
    SMS = "sms"
    EMAIL = "email"  # the hotline mailbox (integrations/email/inbound.py)
    OPEN311 = "open311"
    INSPECTOR = "inspector"


class RequestType(StrEnum):
    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASIC = "basic"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Rating(StrEnum):
    """好差评: the citizen's five levels, mapped onto the three levels of the KPIs."""

    VERY_SATISFIED = "very_satisfied"  # 非常满意
    SATISFIED = "satisfied"  # 满意
    BASIC = "basic"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意
    VERY_DISSATISFIED = "very_dissatisfied"  # 非常不满意


RATING_SATISFACTION = {
    Rating.VERY_SATISFIED: Satisfaction.SATISFIED,
    Rating.SATISFIED: Satisfaction.SATISFIED,
    Rating.BASIC: Satisfaction.BASIC,
    Rating.DISSATISFIED: Satisfaction.DISSATISFIED,
    Rating.VERY_DISSATISFIED: Satisfaction.DISSATISFIED,
}


# Flags an order can carry; all derived from the log.
class Flag(StrEnum):
    DIRECT = "direct"  # 直接办理
    ACCEPT_WARNING = "accept_warning"
    ACCEPT_OVERDUE = "accept_overdue"
    WARNING = "warning"  # 黄牌/预警
    OVERDUE = "overdue"  # 红牌/超期
    SUPERVISED = "supervised"  # 督办
    EXTENSION_PENDING = "extension_pending"
    EXTENDED = "extended"
    DISPUTED = "disputed"  # returned, waiting for the dispatcher
    OBJECTED = "objected"  # 派单异议: the unit objects to the dispatch, the centre decides
    CLOCK_STOPPED = "clock_stopped"
    SUSPENDED = "suspended"  # 挂起: waiting for the citizen (materials, access, ...)
    VERIFY_PENDING = "verify_pending"  # dissatisfied rating waiting for 核实
    VERIFY_WARNING = "verify_warning"  # 核实时限 75 % used
    VERIFY_OVERDUE = "verify_overdue"  # 核实 past its 1-working-day deadline
    REOPENED = "reopened"  # 重办
    ESCALATED = "escalated"  # still overdue long after the deadline: up to the leadership
    CALENDAR_UNVERIFIED = "calendar_unverified"  # a deadline crosses an unpublished year
    INSPECTED = "inspected"  # 现场核查通过: the grid inspector confirmed the latest reply


class WorkClock(Protocol):
    """Working-time arithmetic: the statutory calendar, or the wall clock for urgent orders."""

    def working_seconds_between(self, start: datetime, end: datetime) -> float: ...

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime: ...


class Calendar(WorkClock, Protocol):
    @property
    def day_seconds(self) -> float: ...

    def unverified_between(self, start: datetime, end: datetime) -> bool: ...


@dataclass(frozen=True)
class Policy:
    """Deadline rules plus the calendars they are measured on."""

    calendar: Calendar
    wall: WorkClock
    rules: DeadlineSettings

    def clock(self, urgency: Urgency) -> WorkClock:
        return self.wall if urgency == Urgency.URGENT else self.calendar

    def days(self, urgency: Urgency, days: float) -> float:
        """`days` working days (urgent: calendar days) in seconds of that clock."""
        if urgency == Urgency.URGENT:
            return days * 86_400
        return days * self.calendar.day_seconds

    def accept_budget(self, urgency: Urgency) -> float:
        if urgency == Urgency.URGENT:
            return self.rules.accept_urgent_minutes * 60
        return self.rules.accept_working_hours * 3600

    def finish_budget(self, urgency: Urgency, request_type: RequestType) -> float:
        if urgency == Urgency.URGENT:
            return self.rules.urgent_finish_hours * 3600
        return self.days(urgency, self.rules.finish_working_days[request_type.value])


@dataclass(frozen=True)
class Clock:
    """A deadline clock: a budget of (working) seconds, spent only while it runs."""

    budget: float
    used: float = 0.0
    running_since: datetime | None = None
    due: datetime | None = None
    warn_at: datetime | None = None

    def start(self, at: datetime, clock: WorkClock, warn_ratio: float) -> Clock:
        remaining = max(self.budget - self.used, 0.0)
        warn_left = max(self.budget * warn_ratio - self.used, 0.0)
        return replace(
            self,
            running_since=at,
            due=clock.add_working_seconds(at, remaining),
            warn_at=clock.add_working_seconds(at, warn_left),
        )

    def stop(self, at: datetime, clock: WorkClock) -> Clock:
        if self.running_since is None:
            return self
        spent = clock.working_seconds_between(self.running_since, at)
        return replace(self, used=self.used + spent, running_since=None)

    @property
    def running(self) -> bool:
        return self.running_since is not None


@dataclass(frozen=True)
class Event:
    """One entry of an order's log: who did what, when, and the state it led to."""

    action: str
    at: datetime
    by: str
    role: Role
    from_state: State | None
    to_state: State
    note: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderView:
    """An order's state as derived from its log."""

    state: State
    hotline: str
    channel: Channel
    request_type: RequestType
    urgency: Urgency
    category: str | None = None
    # 坐席建议派往: the unit the agent proposed at registration; a record, never an assignment.
    proposed_unit: str | None = None
    lead_unit: str | None = None  # 主办单位
    assignee: str | None = None  # unit handling it now: the lead or its sub-unit
    co_units: tuple[str, ...] = ()  # 协办单位
    co_replies: tuple[str, ...] = ()
    parent: str | None = None
    flags: frozenset[Flag] = frozenset()
    accept_clock: Clock | None = None
    finish_clock: Clock | None = None
    # 差评核实: `verify_working_days` on the working calendar from the bad rating
    verify_clock: Clock | None = None
    last_dispatch_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    answered_at: datetime | None = None  # the first direct answer
    last_callback_at: datetime | None = None  # the latest 回访 by the centre (not a citizen)
    # 派单异议 pending: the state the order was in when the unit objected (back to it if
    # the objection is rejected).
    objected_from: State | None = None
    extensions: int = 0
    pending_extension_days: float | None = None
    reopen_count: int = 0
    return_count: int = 0
    satisfaction: Satisfaction | None = None
    resolved: bool | None = None

    @property
    def accept_due(self) -> datetime | None:
        return self.accept_clock.due if self.accept_clock else None

    @property
    def finish_due(self) -> datetime | None:
        return self.finish_clock.due if self.finish_clock else None

    def next_alarm(self, policy: Policy) -> datetime | None:
        """The next instant at which the scanner has something to raise, if any."""
        return min((at for _, at in _alarms(self, policy)), default=None)


def _alarms(view: OrderView, policy: Policy) -> list[tuple[Flag, datetime]]:
    """(flag, at) pairs the scanner still has to raise for the running clocks.

    The ladder (逐级升级): warning (黄牌) to the unit at 75 % of the time, overdue (红牌)
    to the unit and supervisors at the deadline, escalated to the leadership when still
    overdue `escalate_after_working_days` later.
    """
    pending = []
    for clock, warn, overdue in (
        (view.accept_clock, Flag.ACCEPT_WARNING, Flag.ACCEPT_OVERDUE),
        (view.finish_clock, Flag.WARNING, Flag.OVERDUE),
        (view.verify_clock, Flag.VERIFY_WARNING, Flag.VERIFY_OVERDUE),
    ):
        if clock is None or not clock.running:
            continue
        if warn not in view.flags and overdue not in view.flags and clock.warn_at:
            pending.append((warn, clock.warn_at))
        if overdue not in view.flags and clock.due:
            pending.append((overdue, clock.due))
    finish = view.finish_clock
    if finish and finish.running and finish.due and Flag.ESCALATED not in view.flags:
        grace = policy.days(view.urgency, policy.rules.escalate_after_working_days)
        pending.append(
            (Flag.ESCALATED, policy.clock(view.urgency).add_working_seconds(finish.due, grace))
        )
    return pending


def due_alarms(view: OrderView, now: datetime, policy: Policy) -> list[Flag]:
    """Alarms that are due at `now` and not raised yet, each at most once, in ladder order."""
    due = [flag for flag, at in _alarms(view, policy) if at <= now]
    # An overdue clock needs no separate warning raised after the fact.
    for warn, overdue in (
        (Flag.ACCEPT_WARNING, Flag.ACCEPT_OVERDUE),
        (Flag.WARNING, Flag.OVERDUE),
        (Flag.VERIFY_WARNING, Flag.VERIFY_OVERDUE),
    ):
        if overdue in due and warn in due:
            due.remove(warn)
    return due


# ---------------------------------------------------------------- who may do what


@dataclass(frozen=True)
class ActionRule:
    roles: frozenset[Role]
    from_states: frozenset[State]
    label: str  # Chinese name shown in the event log


def _rule(roles: Iterable[Role], states: Iterable[State], label: str) -> ActionRule:
    return ActionRule(frozenset(roles), frozenset(states), label)


R, S = Role, State
ACTIVE = (S.DISPATCHED, S.ACCEPTED)
RULES: dict[str, ActionRule] = {
    "answer": _rule([R.AGENT, R.DISPATCHER], [S.REGISTERED], "直接答复"),
    # `system`: 智能派单, when the classifier is confident (dispatch/suggestions.py)
    "dispatch": _rule([R.DISPATCHER, R.SYSTEM], [S.REGISTERED], "派单"),
    "accept": _rule([R.UNIT], [S.DISPATCHED], "签收"),
    "return": _rule([R.UNIT], ACTIVE, "退单"),
    # 派单异议 (国办函〔2025〕66号): the lead unit contests the dispatch decision; the
    # centre's dispatcher or supervisor accepts it (re-dispatch elsewhere, the unit's time
    # does not count) or rejects it (the unit handles the order).
    "object": _rule([R.UNIT], ACTIVE, "派单异议"),
    "object_decide": _rule([R.DISPATCHER, R.SUPERVISOR], [S.RETURNED], "派单异议审核"),
    "redispatch": _rule([R.DISPATCHER], [S.RETURNED, S.DISPATCHED], "改派"),
    "subdispatch": _rule([R.UNIT], [S.ACCEPTED], "下派"),
    "extend_request": _rule([R.UNIT], ACTIVE, "申请延期"),
    "extend_decide": _rule([R.SUPERVISOR], ACTIVE, "延期审批"),
    "reply": _rule([R.UNIT], [S.ACCEPTED], "答复"),
    "review": _rule([R.SUPERVISOR], [S.REPLIED], "审核"),
    # A citizen's own rating (好差评) on the tracking page counts as the callback.
    # the system: the survey dialer's recorded keypresses (callcenter/survey.py)
    "callback": _rule([R.SUPERVISOR, R.AGENT, R.CITIZEN, R.SYSTEM], [S.CALLBACK_PENDING], "回访"),
    "verify": _rule([R.SUPERVISOR], [S.CALLBACK_PENDING], "差评核实"),
    "reopen": _rule([R.SUPERVISOR], [S.CALLBACK_PENDING, S.CLOSED], "重办"),
    # `system`: a certain duplicate is merged at registration (dispatch/intake.py)
    "merge": _rule([R.DISPATCHER, R.AGENT, R.SYSTEM], [S.REGISTERED], "并单"),
    "invalidate": _rule([R.DISPATCHER, R.AGENT], [S.REGISTERED], "无效工单"),
    "supervise": _rule([R.SUPERVISOR], [S.DISPATCHED, S.ACCEPTED, S.RETURNED], "督办"),
    "suspend": _rule([R.UNIT], [S.ACCEPTED], "挂起(等待市民)"),
    "resume": _rule([R.UNIT, R.SUPERVISOR], [S.ACCEPTED], "恢复办理"),
    "inspect": _rule([R.INSPECTOR], [S.REPLIED, S.CALLBACK_PENDING], "现场核查"),
}
# Written by the service itself, never requested through the API.
SYSTEM_ACTIONS = {
    "register": "登记",
    Flag.ACCEPT_WARNING.value: "签收预警",
    Flag.ACCEPT_OVERDUE.value: "签收超时",
    Flag.WARNING.value: "办理预警(黄牌)",
    Flag.OVERDUE.value: "办理超期(红牌)",
    Flag.ESCALATED.value: "超期升级",
    Flag.VERIFY_WARNING.value: "差评核实预警",
    Flag.VERIFY_OVERDUE.value: "差评核实超时",
    "parent_replied": "主工单已答复,并单工单随之办结",
    # 应急联动 (callcenter/linkage.py): a hand-over to 110/119/120/122; no state change.
    "linkage": "应急联动",
}


def action_label(action: str) -> str:
    rule = RULES.get(action)
    return rule.label if rule else SYSTEM_ACTIONS.get(action, action)


class UnitTree(Protocol):
    """What the domain needs to know about the unit hierarchy."""

    def exists(self, code: str) -> bool: ...

    def within(self, code: str, ancestor: str) -> bool:
        """True when `code` is `ancestor` or one of its sub-units."""
        ...


@dataclass(frozen=True)
class Context:
    policy: Policy
    units: UnitTree
    now: datetime
    # Parent candidates for merge: number -> state, looked up by the service.
    order_state: Callable[[str], State | None] = lambda _number: None


def decide(
    view: OrderView, action: str, payload: Mapping[str, Any], actor: Actor, ctx: Context
) -> Event:
    """Check one requested action against the rules; return the event to append."""
    rule = RULES.get(action)
    if rule is None:
        raise ActionRejected(f"未知的操作: {action}", code="unknown_action")
    if actor.role not in rule.roles:
        raise ActionForbidden(f"当前角色无权执行“{rule.label}”")
    if view.state not in rule.from_states:
        raise IllegalTransition(
            f"工单当前状态为“{STATE_LABELS[view.state]}”,不能执行“{rule.label}”"
        )
    to_state, data, note = _DECIDERS[action](view, payload, actor, ctx)
    return Event(
        action=action,
        at=ctx.now,
        by=actor.username,
        role=actor.role,
        from_state=view.state,
        to_state=to_state,
        note=note,
        data=data,
    )


Decision = tuple[State, dict[str, Any], str]


def _require_unit(ctx: Context, code: str) -> None:
    if not ctx.units.exists(code):
        raise ActionRejected(f"未知单位: {code}", code="unknown_unit")


def _acts_for_assignee(view: OrderView, actor: Actor, ctx: Context) -> None:
    """A unit user acts for the handling unit when it is their unit or below it."""
    unit = actor.unit.code if actor.unit else None
    if unit is None or view.assignee is None or not ctx.units.within(view.assignee, unit):
        raise ActionForbidden("本单位不是该工单的承办单位")


def _text(payload: Mapping[str, Any], key: str, what: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ActionRejected(f"请填写{what}", code="missing_" + key)
    return value.strip()


def _d_answer(view, payload, actor, ctx) -> Decision:
    return S.REPLIED, {}, _text(payload, "text", "答复内容")


def _d_dispatch(view, payload, actor, ctx) -> Decision:
    unit = _text(payload, "unit", "承办单位")
    _require_unit(ctx, unit)
    co_units = list(dict.fromkeys(payload.get("co_units") or []))
    for code in co_units:
        _require_unit(ctx, code)
    if unit in co_units:
        raise ActionRejected("主办单位不能同时是协办单位", code="invalid_co_units")
    data: dict[str, Any] = {"unit": unit, "co_units": co_units}
    if payload.get("category"):
        data["category"] = payload["category"]
    return S.DISPATCHED, data, payload.get("note") or ""


def _d_accept(view, payload, actor, ctx) -> Decision:
    _acts_for_assignee(view, actor, ctx)
    return S.ACCEPTED, {"unit": actor.unit.code}, ""


def _d_return(view, payload, actor, ctx) -> Decision:
    """退单: the handling unit refuses the order, with a reason, inside the window."""
    _acts_for_assignee(view, actor, ctx)
    reason = _text(payload, "reason", "退单理由")
    unit = actor.unit.code
    if view.lead_unit and unit != view.lead_unit and ctx.units.within(unit, view.lead_unit):
        # A sub-unit hands the order back to its lead unit, not to the centre.
        return view.state, {"unit": unit, "back_to": view.lead_unit}, reason
    _return_window(view, ctx)
    return S.RETURNED, {"unit": unit}, reason


def _return_window(view: OrderView, ctx: Context) -> None:
    clock = ctx.policy.clock(view.urgency)
    window = ctx.policy.days(view.urgency, ctx.policy.rules.return_window_working_days)
    if clock.working_seconds_between(view.last_dispatch_at, ctx.now) > window:
        raise ActionRejected("已超过退单时限,请申请延期或按要求办理", code="return_window_closed")


def _d_object(view, payload, actor, ctx) -> Decision:
    """派单异议: the lead unit contests the dispatch, with a reason, inside the return window."""
    _acts_for_assignee(view, actor, ctx)
    reason = _text(payload, "reason", "异议理由")
    if view.assignee != view.lead_unit:
        raise ActionRejected(
            "工单已下派,请由下级单位退回后再由主办单位提出异议", code="subdispatched"
        )
    _return_window(view, ctx)
    return S.RETURNED, {"unit": view.lead_unit}, reason


def _d_object_decide(view, payload, actor, ctx) -> Decision:
    """派单异议审核: accept → dispatch to another unit afresh; reject → the unit handles it."""
    if Flag.OBJECTED not in view.flags:
        raise ActionRejected("该工单没有待审核的派单异议", code="no_objection_pending")
    accept = payload.get("accept")
    if not isinstance(accept, bool):
        raise ActionRejected("请选择采纳或驳回异议", code="missing_accept")
    if not accept:
        note = _text(payload, "note", "驳回理由")
        return view.objected_from or S.DISPATCHED, {"accept": False, "unit": view.lead_unit}, note
    _, data, note = _d_dispatch(view, payload, actor, ctx)
    if data["unit"] == view.lead_unit:
        raise ActionRejected("采纳异议时请改派至其他单位", code="same_unit")
    return S.DISPATCHED, {"accept": True, "from_unit": view.lead_unit, **data}, note


def _d_redispatch(view, payload, actor, ctx) -> Decision:
    if Flag.OBJECTED in view.flags:
        raise ActionRejected("该工单有待审核的派单异议,请先审核异议", code="objection_pending")
    to_state, data, note = _d_dispatch(view, payload, actor, ctx)
    if "co_units" not in payload:
        data["co_units"] = [c for c in view.co_units if c != data["unit"]]
    return to_state, data, note


def _d_subdispatch(view, payload, actor, ctx) -> Decision:
    _acts_for_assignee(view, actor, ctx)
    unit = _text(payload, "unit", "下级单位")
    _require_unit(ctx, unit)
    if unit == actor.unit.code or not ctx.units.within(unit, actor.unit.code):
        raise ActionRejected("只能下派给本单位的下级单位", code="not_a_sub_unit")
    return S.ACCEPTED, {"unit": unit}, payload.get("note") or ""


def _d_extend_request(view, payload, actor, ctx) -> Decision:
    _acts_for_assignee(view, actor, ctx)
    rules = ctx.policy.rules
    days = payload.get("days")
    if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
        raise ActionRejected("延期天数必须为正数", code="invalid_days")
    if days > rules.max_extension_days:
        raise ActionRejected(
            f"单次延期不能超过{rules.max_extension_days:g}个工作日", code="extension_too_long"
        )
    if Flag.EXTENSION_PENDING in view.flags:
        raise ActionRejected("已有待审批的延期申请", code="extension_pending")
    if view.extensions >= rules.max_extensions:
        raise ActionRejected(
            f"延期次数已达上限({rules.max_extensions}次)", code="extension_limit_reached"
        )
    return view.state, {"days": days}, _text(payload, "reason", "延期理由")


def _d_extend_decide(view, payload, actor, ctx) -> Decision:
    if Flag.EXTENSION_PENDING not in view.flags:
        raise ActionRejected("没有待审批的延期申请", code="no_extension_pending")
    approve = payload.get("approve")
    if not isinstance(approve, bool):
        raise ActionRejected("请选择同意或不同意", code="missing_approve")
    return (
        view.state,
        {"approve": approve, "days": view.pending_extension_days},
        payload.get("note") or "",
    )


def _d_reply(view, payload, actor, ctx) -> Decision:
    text = _text(payload, "text", "答复内容")
    unit = actor.unit.code if actor.unit else None
    co_unit = next((c for c in view.co_units if unit and ctx.units.within(unit, c)), None)
    if co_unit and not (view.assignee and ctx.units.within(view.assignee, unit)):
        # 协办单位 reply to the lead unit; only the lead unit's reply closes the unit side.
        return view.state, {"co_unit": co_unit}, text
    _acts_for_assignee(view, actor, ctx)
    return S.REPLIED, {"unit": unit}, text


def _d_review(view, payload, actor, ctx) -> Decision:
    approve = payload.get("approve")
    if not isinstance(approve, bool):
        raise ActionRejected("请选择审核通过或退回", code="missing_approve")
    note = payload.get("note") or ""
    if approve:
        return S.CALLBACK_PENDING, {"approve": True}, note
    if not note.strip():
        raise ActionRejected("退回重新答复时请填写审核意见", code="missing_note")
    back = S.ACCEPTED if view.assignee else S.REGISTERED
    return back, {"approve": False}, note


def _citizen_rating(view: OrderView, payload: Mapping[str, Any]) -> Rating:
    """好差评 on the tracking page: once per reply; a 差评 then waits for 核实."""
    if Flag.VERIFY_PENDING in view.flags:
        raise ActionRejected("您已评价,评价正在核实中", code="already_rated")
    try:
        return Rating(payload.get("rating"))
    except ValueError:
        raise ActionRejected("请选择评价等级", code="invalid_rating") from None


def _d_callback(view, payload, actor, ctx) -> Decision:
    data: dict[str, Any] = {}
    if actor.role == Role.CITIZEN:
        rating = _citizen_rating(view, payload)
        satisfaction, data["rating"] = RATING_SATISFACTION[rating], rating.value
    else:
        try:
            satisfaction = Satisfaction(payload.get("satisfaction"))
        except ValueError:
            raise ActionRejected(
                "满意度应为 satisfied、basic 或 dissatisfied", code="invalid_satisfaction"
            ) from None
    resolved = payload.get("resolved")
    if not isinstance(resolved, bool):
        raise ActionRejected("请填写是否已解决", code="missing_resolved")
    data.update({"satisfaction": satisfaction.value, "resolved": resolved})
    good = satisfaction != Satisfaction.DISSATISFIED and resolved
    # 差评 is not the end: it waits for a supervisor's 核实 (verify).
    return (S.CLOSED if good else S.CALLBACK_PENDING), data, payload.get("note") or ""


def _reopen_target(view: OrderView) -> State:
    return S.DISPATCHED if view.lead_unit else S.REGISTERED


def _d_verify(view, payload, actor, ctx) -> Decision:
    """差评核实: a valid complaint reopens for rectification, an invalid one closes."""
    if Flag.VERIFY_PENDING not in view.flags:
        raise ActionRejected("该工单没有待核实的评价", code="nothing_to_verify")
    valid = payload.get("valid")
    if not isinstance(valid, bool):
        raise ActionRejected("请选择评价是否属实", code="missing_valid")
    note = _text(payload, "note", "核实意见")
    return (_reopen_target(view) if valid else S.CLOSED), {"valid": valid}, note


def _d_inspect(view, payload, actor, ctx) -> Decision:
    """现场核查: the grid inspector checks the unit's fix on site; not passed reopens it."""
    if Flag.INSPECTED in view.flags:
        raise ActionRejected("该答复已核查", code="already_inspected")
    passed = payload.get("passed")
    if not isinstance(passed, bool):
        raise ActionRejected("请选择核查是否通过", code="missing_passed")
    note = payload.get("note") or ""
    if passed:
        return view.state, {"passed": True}, note
    if not note.strip():
        raise ActionRejected("核查未通过时请填写现场情况", code="missing_note")
    return _reopen_target(view), {"passed": False}, note


def _d_reopen(view, payload, actor, ctx) -> Decision:
    return _reopen_target(view), {}, _text(payload, "reason", "重办理由")


def _d_merge(view, payload, actor, ctx) -> Decision:
    parent = _text(payload, "parent", "主工单编号")
    parent_state = ctx.order_state(parent)
    if parent_state is None:
        raise ActionRejected(f"主工单不存在: {parent}", code="unknown_parent")
    # The parent's reply closes its children, so it must still be waiting for one.
    if parent_state not in (S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.RETURNED):
        raise ActionRejected("主工单已答复、并单、无效或办结,不能并入", code="invalid_parent")
    return S.MERGED, {"parent": parent}, payload.get("note") or ""


def _d_invalidate(view, payload, actor, ctx) -> Decision:
    return S.INVALID, {}, _text(payload, "reason", "无效原因")


def _d_suspend(view, payload, actor, ctx) -> Decision:
    """挂起: the unit waits for the citizen; the finish clock stops until resumed."""
    _acts_for_assignee(view, actor, ctx)
    if Flag.SUSPENDED in view.flags:
        raise ActionRejected("工单已挂起", code="already_suspended")
    return view.state, {}, _text(payload, "reason", "挂起原因")


def _d_resume(view, payload, actor, ctx) -> Decision:
    if actor.role == Role.UNIT:
        _acts_for_assignee(view, actor, ctx)
    if Flag.SUSPENDED not in view.flags:
        raise ActionRejected("工单未挂起", code="not_suspended")
    return view.state, {}, payload.get("note") or ""


def _d_supervise(view, payload, actor, ctx) -> Decision:
    note = _text(payload, "note", "督办意见")
    data: dict[str, Any] = {}
    due = payload.get("due")
    if due is not None:
        if not isinstance(due, datetime) or due.tzinfo is None:
            raise ActionRejected("新的办结时限格式不正确", code="invalid_due")
        if due <= ctx.now:
            raise ActionRejected("新的办结时限必须晚于当前时间", code="invalid_due")
        data["due"] = due.isoformat()
    return view.state, data, note


_DECIDERS: dict[str, Callable[..., Decision]] = {
    "answer": _d_answer,
    "dispatch": _d_dispatch,
    "accept": _d_accept,
    "return": _d_return,
    "object": _d_object,
    "object_decide": _d_object_decide,
    "redispatch": _d_redispatch,
    "subdispatch": _d_subdispatch,
    "extend_request": _d_extend_request,
    "extend_decide": _d_extend_decide,
    "reply": _d_reply,
    "review": _d_review,
    "callback": _d_callback,
    "verify": _d_verify,
    "reopen": _d_reopen,
    "merge": _d_merge,
    "invalidate": _d_invalidate,
    "supervise": _d_supervise,
    "suspend": _d_suspend,
    "resume": _d_resume,
    "inspect": _d_inspect,
}
assert set(_DECIDERS) == set(RULES)


# ---------------------------------------------------------------- the fold


def replay(events: Iterable[Event], policy: Policy) -> OrderView:
    """Fold an order's log into its current view. The first event must be `register`."""
    view: OrderView | None = None
    for event in events:
        if view is None:
            if event.action != "register":
                raise ValueError("an order's log starts with its registration")
            view = _registered(event)
        else:
            view = apply(view, event, policy)
    if view is None:
        raise ValueError("an order needs at least its registration event")
    return view


def _registered(event: Event) -> OrderView:
    data = event.data
    return OrderView(
        state=S.REGISTERED,
        hotline=data["hotline"],
        channel=Channel(data["channel"]),
        request_type=RequestType(data["type"]),
        urgency=Urgency(data["urgency"]),
        category=data.get("category"),
        proposed_unit=data.get("proposed_unit"),
    )


def apply(view: OrderView, event: Event, policy: Policy) -> OrderView:
    """The effect of one event on the view; deadlines are recomputed here, never edited."""
    handler = _APPLIERS.get(event.action)
    new = handler(view, event, policy) if handler else view
    new = replace(new, state=event.to_state)
    return _with_calendar_flag(new, event.at, policy)


def _flags(view: OrderView, add: Iterable[Flag] = (), drop: Iterable[Flag] = ()) -> frozenset:
    return (view.flags - frozenset(drop)) | frozenset(add)


# Raised against the finish deadline; cleared whenever that deadline moves.
FINISH_ALARMS = (Flag.WARNING, Flag.OVERDUE, Flag.ESCALATED)
# Raised against the 核实 deadline; cleared when the rating is verified.
VERIFY_ALARMS = (Flag.VERIFY_PENDING, Flag.VERIFY_WARNING, Flag.VERIFY_OVERDUE)


def _ratio(policy: Policy) -> float:
    return policy.rules.warning_ratio


def _start_clocks(
    view: OrderView, at: datetime, policy: Policy, finish_budget: float | None
) -> OrderView:
    """New accept clock; a new finish clock when a budget is given, else resume it."""
    clock = policy.clock(view.urgency)
    accept = Clock(policy.accept_budget(view.urgency)).start(at, clock, _ratio(policy))
    if finish_budget is not None:
        finish = Clock(finish_budget).start(at, clock, _ratio(policy))
    elif view.finish_clock and not view.finish_clock.running:
        finish = view.finish_clock.start(at, clock, _ratio(policy))
    else:
        finish = view.finish_clock
    return replace(
        view,
        accepted_at=None,  # a (re-)dispatched order is accepted anew, against the new clock
        accept_clock=accept,
        finish_clock=finish,
        last_dispatch_at=at,
        flags=_flags(
            view,
            drop=[
                Flag.ACCEPT_WARNING,
                Flag.ACCEPT_OVERDUE,
                Flag.DISPUTED,
                Flag.OBJECTED,
                Flag.CLOCK_STOPPED,
            ],
        ),
    )


def _stop(clock: Clock | None, at: datetime, view: OrderView, policy: Policy) -> Clock | None:
    return clock.stop(at, policy.clock(view.urgency)) if clock else None


def _a_dispatch(view, event, policy):
    data = event.data
    view = replace(
        view,
        lead_unit=data["unit"],
        assignee=data["unit"],
        co_units=tuple(data.get("co_units", ())),
        co_replies=(),
        category=data.get("category", view.category),
        dispatched_at=view.dispatched_at or event.at,
    )
    budget = policy.finish_budget(view.urgency, view.request_type)
    return _start_clocks(view, event.at, policy, budget if view.finish_clock is None else None)


def _a_accept(view, event, policy):
    return replace(
        view,
        accept_clock=_stop(view.accept_clock, event.at, view, policy),
        accepted_at=event.at,
    )


def _a_return(view, event, policy):
    if "back_to" in event.data:
        return replace(view, assignee=event.data["back_to"])
    return replace(
        view,
        return_count=view.return_count + 1,
        accept_clock=_stop(view.accept_clock, event.at, view, policy),
        finish_clock=_stop(view.finish_clock, event.at, view, policy),
        flags=_flags(view, add=[Flag.DISPUTED, Flag.CLOCK_STOPPED]),
    )


def _a_object(view, event, policy):
    """派单异议: both clocks stop while the centre reviews the objection."""
    return replace(
        view,
        objected_from=view.state,
        accept_clock=_stop(view.accept_clock, event.at, view, policy),
        finish_clock=_stop(view.finish_clock, event.at, view, policy),
        flags=_flags(view, add=[Flag.OBJECTED, Flag.CLOCK_STOPPED]),
    )


def _a_object_decide(view, event, policy):
    data = event.data
    if data["accept"]:
        # The new unit starts with the whole time: the objecting unit's does not count.
        view = replace(
            view,
            objected_from=None,
            lead_unit=data["unit"],
            assignee=data["unit"],
            co_units=tuple(data.get("co_units", ())),
            co_replies=(),
            category=data.get("category", view.category),
            flags=_flags(view, drop=FINISH_ALARMS),
        )
        budget = policy.finish_budget(view.urgency, view.request_type)
        return _start_clocks(view, event.at, policy, budget)
    # Rejected: the unit handles it; the clocks run on from where they stopped.
    clock = policy.clock(view.urgency)
    accept = view.accept_clock
    if accept is not None and view.objected_from == S.DISPATCHED:
        accept = accept.start(event.at, clock, _ratio(policy))
    finish = view.finish_clock.start(event.at, clock, _ratio(policy)) if view.finish_clock else None
    return replace(
        view,
        objected_from=None,
        accept_clock=accept,
        finish_clock=finish,
        flags=_flags(view, drop=[Flag.OBJECTED, Flag.CLOCK_STOPPED]),
    )


def _a_subdispatch(view, event, policy):
    return replace(view, assignee=event.data["unit"])


def _a_extend_request(view, event, policy):
    return replace(
        view,
        pending_extension_days=event.data["days"],
        flags=_flags(view, add=[Flag.EXTENSION_PENDING]),
    )


def _moved_due(view: OrderView, finish: Clock, event: Event, policy: Policy) -> OrderView:
    """The finish deadline moved: restart the running clock and let alarms fire anew."""
    if finish.running:
        finish = finish.stop(event.at, policy.clock(view.urgency)).start(
            event.at, policy.clock(view.urgency), _ratio(policy)
        )
    return replace(view, finish_clock=finish, flags=_flags(view, drop=FINISH_ALARMS))


def _a_extend_decide(view, event, policy):
    view = replace(
        view, pending_extension_days=None, flags=_flags(view, drop=[Flag.EXTENSION_PENDING])
    )
    if not event.data["approve"]:
        return view
    extra = policy.days(view.urgency, event.data["days"])
    finish = replace(view.finish_clock, budget=view.finish_clock.budget + extra)
    view = replace(view, extensions=view.extensions + 1, flags=_flags(view, add=[Flag.EXTENDED]))
    return _moved_due(view, finish, event, policy)


def _a_reply(view, event, policy):
    if "co_unit" in event.data:
        return replace(view, co_replies=(*view.co_replies, event.data["co_unit"]))
    return replace(
        view,
        replied_at=event.at,
        accept_clock=_stop(view.accept_clock, event.at, view, policy),
        finish_clock=_stop(view.finish_clock, event.at, view, policy),
        # A new reply needs its own on-site check.
        flags=_flags(view, drop=[Flag.SUSPENDED, Flag.CLOCK_STOPPED, Flag.INSPECTED]),
    )


def _a_answer(view, event, policy):
    return replace(
        view,
        replied_at=event.at,
        answered_at=view.answered_at or event.at,
        flags=_flags(view, add=[Flag.DIRECT]),
    )


def _a_review(view, event, policy):
    if event.data["approve"]:
        return view
    if event.to_state == S.REGISTERED:  # a direct answer sent back: handle it again
        return replace(view, flags=_flags(view, drop=[Flag.DIRECT]))
    clock = policy.clock(view.urgency)
    finish = view.finish_clock.start(event.at, clock, _ratio(policy)) if view.finish_clock else None
    return replace(view, finish_clock=finish)


def _a_callback(view, event, policy):
    view = replace(
        view,
        satisfaction=Satisfaction(event.data["satisfaction"]),
        resolved=event.data["resolved"],
        # A citizen rating on the web is an evaluation, not a callback the centre made.
        last_callback_at=view.last_callback_at if event.role == R.CITIZEN else event.at,
    )
    if event.to_state == S.CLOSED:
        return replace(view, closed_at=event.at)
    verify = Clock(policy.days(Urgency.NORMAL, policy.rules.verify_working_days))
    return replace(
        view,
        verify_clock=verify.start(event.at, policy.calendar, _ratio(policy)),
        flags=_flags(view, add=[Flag.VERIFY_PENDING], drop=VERIFY_ALARMS),
    )


def _reopened(view: OrderView, event: Event, policy: Policy) -> OrderView:
    """重办: same number and history, back to the lead unit with a rectification deadline."""
    view = replace(
        view,
        reopen_count=view.reopen_count + 1,
        closed_at=None,
        replied_at=None,
        assignee=view.lead_unit,
        co_replies=(),
        verify_clock=None,
        flags=_flags(
            view,
            add=[Flag.REOPENED],
            drop=[*VERIFY_ALARMS, Flag.DIRECT, Flag.INSPECTED, *FINISH_ALARMS],
        ),
    )
    if event.to_state != S.DISPATCHED:
        return replace(view, accept_clock=None, finish_clock=None)
    budget = policy.days(view.urgency, policy.rules.rectification_working_days)
    return _start_clocks(view, event.at, policy, budget)


def _a_verify(view, event, policy):
    if event.data["valid"]:
        return _reopened(view, event, policy)
    return replace(
        view, closed_at=event.at, verify_clock=None, flags=_flags(view, drop=VERIFY_ALARMS)
    )


def _a_inspect(view, event, policy):
    if event.data["passed"]:
        return replace(view, flags=_flags(view, add=[Flag.INSPECTED]))
    return _reopened(view, event, policy)


def _a_merge(view, event, policy):
    return replace(view, parent=event.data["parent"])


def _a_supervise(view, event, policy):
    """督办 with a new deadline: the supervisor's date is the due, exactly."""
    view = replace(view, flags=_flags(view, add=[Flag.SUPERVISED]))
    if "due" not in event.data or view.finish_clock is None:
        return view
    due = datetime.fromisoformat(event.data["due"])
    clock = policy.clock(view.urgency)
    finish = view.finish_clock.stop(event.at, clock)
    finish = replace(finish, budget=finish.used + clock.working_seconds_between(event.at, due))
    if view.finish_clock.running:
        finish = finish.start(event.at, clock, _ratio(policy))
    return replace(
        view,
        finish_clock=replace(finish, due=due),
        flags=_flags(view, drop=FINISH_ALARMS),
    )


def _a_suspend(view, event, policy):
    return replace(
        view,
        finish_clock=_stop(view.finish_clock, event.at, view, policy),
        flags=_flags(view, add=[Flag.SUSPENDED, Flag.CLOCK_STOPPED]),
    )


def _a_resume(view, event, policy):
    clock = policy.clock(view.urgency)
    return replace(
        view,
        finish_clock=view.finish_clock.start(event.at, clock, _ratio(policy)),
        flags=_flags(view, drop=[Flag.SUSPENDED, Flag.CLOCK_STOPPED]),
    )


def _a_parent_replied(view, event, policy):
    """并单: the parent's reply answers the merged child too."""
    return replace(view, replied_at=event.at, closed_at=event.at)


def _a_alarm(view, event, policy):
    return replace(view, flags=_flags(view, add=[Flag(event.action)]))


_APPLIERS: dict[str, Callable[[OrderView, Event, Policy], OrderView]] = {
    "answer": _a_answer,
    "dispatch": _a_dispatch,
    "redispatch": _a_dispatch,
    "accept": _a_accept,
    "return": _a_return,
    "object": _a_object,
    "object_decide": _a_object_decide,
    "subdispatch": _a_subdispatch,
    "extend_request": _a_extend_request,
    "extend_decide": _a_extend_decide,
    "reply": _a_reply,
    "review": _a_review,
    "callback": _a_callback,
    "verify": _a_verify,
    "reopen": _reopened,
    "merge": _a_merge,
    "supervise": _a_supervise,
    "suspend": _a_suspend,
    "resume": _a_resume,
    "inspect": _a_inspect,
    "parent_replied": _a_parent_replied,
    **{
        flag.value: _a_alarm
        for flag in (
            Flag.ACCEPT_WARNING,
            Flag.ACCEPT_OVERDUE,
            Flag.WARNING,
            Flag.OVERDUE,
            Flag.ESCALATED,
            Flag.VERIFY_WARNING,
            Flag.VERIFY_OVERDUE,
        )
    },
}


def _with_calendar_flag(view: OrderView, at: datetime, policy: Policy) -> OrderView:
    """Flag deadlines that rest on days the official calendar has not published yet."""
    if view.urgency == Urgency.URGENT:
        return view
    dues = [d for d in (view.accept_due, view.finish_due) if d is not None]
    unverified = bool(dues) and policy.calendar.unverified_between(at, max(dues))
    if unverified:
        return replace(view, flags=_flags(view, add=[Flag.CALENDAR_UNVERIFIED]))
    return view
