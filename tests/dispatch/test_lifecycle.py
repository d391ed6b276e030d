"""The life-cycle rules, without a database: every allowed transition, a table of
forbidden ones, roles, unit relations, deadlines and alarms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from accounts.domain import Actor, Role, UnitRef
from config import load_settings
from dispatch.exceptions import ActionForbidden, ActionRejected, IllegalTransition
from dispatch.lifecycle import (
    RULES,
    Context,
    Event,
    Flag,
    OrderView,
    State,
    apply,
    decide,
    due_alarms,
    replay,
)
from dispatch.services import build_policy

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # a Monday
PATHS = {"ZJJ": "/1/", "ZJJ-WY": "/1/2/", "CGJ": "/3/", "DHQ": "/4/"}


class Tree:
    def exists(self, code: str) -> bool:
        return code in PATHS

    def within(self, code: str, ancestor: str) -> bool:
        return PATHS[code].startswith(PATHS[ancestor])


def actor(role: Role, unit: str | None = None, name: str | None = None) -> Actor:
    ref = UnitRef(1, unit, unit, PATHS[unit]) if unit else None
    return Actor(name or f"{role.value}-{unit or 'x'}", role, ref)


AGENT, DISPATCHER, SUPERVISOR = actor(Role.AGENT), actor(Role.DISPATCHER), actor(Role.SUPERVISOR)
INSPECTOR, CITIZEN = actor(Role.INSPECTOR), actor(Role.CITIZEN)
ZJJ, ZJJ_WY, CGJ = actor(Role.UNIT, "ZJJ"), actor(Role.UNIT, "ZJJ-WY"), actor(Role.UNIT, "CGJ")
POLICY = build_policy(load_settings(environ={}), {})


class Order:
    """A test order: its log, its view and a clock."""

    def __init__(self, urgency: str = "normal", request_type: str = "complaint") -> None:
        self.now = T0
        reg = Event(
            "register",
            T0,
            "agent",
            Role.AGENT,
            None,
            State.REGISTERED,
            data={"hotline": "12345", "channel": "phone", "type": request_type, "urgency": urgency},
        )
        self.events = [reg]
        self.view: OrderView = replay(self.events, POLICY)

    def ctx(self, parents: dict | None = None) -> Context:
        return Context(POLICY, Tree(), self.now, (parents or {}).get)

    def do(self, who: Actor, action: str, parents: dict | None = None, **payload) -> OrderView:
        event = decide(self.view, action, payload, who, self.ctx(parents))
        self.events.append(event)
        self.view = apply(self.view, event, POLICY)
        assert replay(self.events, POLICY) == self.view  # the log alone gives the state
        return self.view

    def later(self, **delta: float) -> Order:
        self.now += timedelta(**delta)
        return self


# Paths that bring a new order into each state.
def in_state(state: State) -> Order:
    o = Order()
    steps = {
        State.REGISTERED: [],
        State.DISPATCHED: [(DISPATCHER, "dispatch", {"unit": "ZJJ"})],
        State.ACCEPTED: [(DISPATCHER, "dispatch", {"unit": "ZJJ"}), (ZJJ, "accept", {})],
        State.RETURNED: [
            (DISPATCHER, "dispatch", {"unit": "ZJJ"}),
            (ZJJ, "return", {"reason": "非本单位职责"}),
        ],
        State.REPLIED: [
            (DISPATCHER, "dispatch", {"unit": "ZJJ"}),
            (ZJJ, "accept", {}),
            (ZJJ, "reply", {"text": "已处理"}),
        ],
        State.CALLBACK_PENDING: [
            (AGENT, "answer", {"text": "已答复"}),
            (SUPERVISOR, "review", {"approve": True}),
        ],
        State.CLOSED: [
            (AGENT, "answer", {"text": "已答复"}),
            (SUPERVISOR, "review", {"approve": True}),
            (AGENT, "callback", {"satisfaction": "satisfied", "resolved": True}),
        ],
        State.MERGED: [(AGENT, "merge", {"parent": "P1"})],
        State.INVALID: [(AGENT, "invalidate", {"reason": "骚扰"})],
    }[state]
    for who, action, payload in steps:
        o.later(minutes=10).do(who, action, {"P1": State.REGISTERED}, **payload)
    assert o.view.state == state
    return o


# (action, actor, payload, from state, expected state)
ALLOWED = [
    ("answer", AGENT, {"text": "已答复"}, State.REGISTERED, State.REPLIED),
    ("dispatch", DISPATCHER, {"unit": "ZJJ"}, State.REGISTERED, State.DISPATCHED),
    ("merge", DISPATCHER, {"parent": "P1"}, State.REGISTERED, State.MERGED),
    ("invalidate", DISPATCHER, {"reason": "重复来电"}, State.REGISTERED, State.INVALID),
    ("accept", ZJJ, {}, State.DISPATCHED, State.ACCEPTED),
    ("accept", ZJJ, {}, State.DISPATCHED, State.ACCEPTED),
    ("return", ZJJ, {"reason": "非本单位"}, State.DISPATCHED, State.RETURNED),
    ("return", ZJJ, {"reason": "非本单位"}, State.ACCEPTED, State.RETURNED),
    ("object", ZJJ, {"reason": "非本单位职责"}, State.DISPATCHED, State.RETURNED),
    ("object", ZJJ, {"reason": "非本单位职责"}, State.ACCEPTED, State.RETURNED),
    ("redispatch", DISPATCHER, {"unit": "CGJ"}, State.RETURNED, State.DISPATCHED),
    ("redispatch", DISPATCHER, {"unit": "CGJ"}, State.DISPATCHED, State.DISPATCHED),
    ("subdispatch", ZJJ, {"unit": "ZJJ-WY"}, State.ACCEPTED, State.ACCEPTED),
    ("extend_request", ZJJ, {"days": 3, "reason": "需协调"}, State.ACCEPTED, State.ACCEPTED),
    ("extend_request", ZJJ, {"days": 3, "reason": "需协调"}, State.DISPATCHED, State.DISPATCHED),
    ("reply", ZJJ, {"text": "已办结"}, State.ACCEPTED, State.REPLIED),
    ("review", SUPERVISOR, {"approve": True}, State.REPLIED, State.CALLBACK_PENDING),
    ("review", SUPERVISOR, {"approve": False, "note": "不完整"}, State.REPLIED, State.ACCEPTED),
    (
        "callback",
        AGENT,
        {"satisfaction": "basic", "resolved": True},
        State.CALLBACK_PENDING,
        State.CLOSED,
    ),
    (
        "callback",
        SUPERVISOR,
        {"satisfaction": "dissatisfied", "resolved": False},
        State.CALLBACK_PENDING,
        State.CALLBACK_PENDING,
    ),
    ("reopen", SUPERVISOR, {"reason": "市民再次反映"}, State.CLOSED, State.REGISTERED),
    ("reopen", SUPERVISOR, {"reason": "市民再次反映"}, State.CALLBACK_PENDING, State.REGISTERED),
    ("supervise", SUPERVISOR, {"note": "请加快办理"}, State.DISPATCHED, State.DISPATCHED),
    ("supervise", SUPERVISOR, {"note": "请加快办理"}, State.ACCEPTED, State.ACCEPTED),
    ("supervise", SUPERVISOR, {"note": "请尽快改派"}, State.RETURNED, State.RETURNED),
    ("suspend", ZJJ, {"reason": "等待市民补充材料"}, State.ACCEPTED, State.ACCEPTED),
    ("inspect", INSPECTOR, {"passed": True}, State.REPLIED, State.REPLIED),
    ("inspect", INSPECTOR, {"passed": False, "note": "仍有垃圾"}, State.REPLIED, State.DISPATCHED),
    ("inspect", INSPECTOR, {"passed": True}, State.CALLBACK_PENDING, State.CALLBACK_PENDING),
]


@pytest.mark.parametrize(
    ("action", "who", "payload", "start", "end"),
    ALLOWED,
    ids=[f"{a}-{s.value}" for a, _, _, s, _ in ALLOWED],
)
def test_allowed_transition(action, who, payload, start, end):
    order = in_state(start).later(minutes=5)
    assert order.do(who, action, {"P1": State.REGISTERED}, **payload).state == end
    assert order.events[-1].from_state == start and order.events[-1].to_state == end


def test_every_rule_has_an_allowed_case():
    covered = {(a, s) for a, _, _, s, _ in ALLOWED}
    rule_states = {(a, s) for a, rule in RULES.items() for s in rule.from_states}
    # extend_decide, verify, resume and object_decide need something pending; they have
    # their own tests (object_decide: tests/api/test_objection.py)
    assert rule_states - covered == {
        ("object_decide", State.RETURNED),
        ("extend_decide", State.DISPATCHED),
        ("extend_decide", State.ACCEPTED),
        ("verify", State.CALLBACK_PENDING),
        ("resume", State.ACCEPTED),
    }


FORBIDDEN = [
    (action, state)
    for action, rule in RULES.items()
    for state in State
    if state not in rule.from_states
]


@pytest.mark.parametrize(
    ("action", "state"), FORBIDDEN, ids=[f"{a}-{s.value}" for a, s in FORBIDDEN]
)
def test_forbidden_transition(action, state):
    order = in_state(state)
    who = {
        Role.UNIT: ZJJ,
        Role.DISPATCHER: DISPATCHER,
        Role.SUPERVISOR: SUPERVISOR,
        Role.AGENT: AGENT,
        Role.INSPECTOR: INSPECTOR,
    }[sorted(RULES[action].roles)[0]]
    before = order.view
    with pytest.raises(IllegalTransition):
        decide(order.view, action, {}, who, order.ctx())
    assert order.view == before


@pytest.mark.parametrize("action", sorted(RULES))
def test_roles_outside_the_rule_are_refused(action):
    rule = RULES[action]
    state = sorted(rule.from_states)[0]
    for role in Role:
        if role in rule.roles:
            continue
        who = actor(role, "ZJJ" if role == Role.UNIT else None)
        with pytest.raises(ActionForbidden):
            decide(in_state(state).view, action, {}, who, in_state(state).ctx())


def test_other_unit_cannot_accept_and_parent_unit_can_act_for_sub_unit():
    order = in_state(State.DISPATCHED)
    with pytest.raises(ActionForbidden):
        order.do(CGJ, "accept")
    order = Order()
    order.do(DISPATCHER, "dispatch", unit="ZJJ-WY")
    assert order.do(ZJJ, "accept").state == State.ACCEPTED  # the parent unit acts for it


def test_return_needs_reason_and_window():
    order = in_state(State.DISPATCHED)
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "return", reason="  ")
    assert err.value.code == "missing_reason"
    order.later(days=2)  # Wednesday: more than 1 working day after dispatch
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "return", reason="非本单位职责")
    assert err.value.code == "return_window_closed"


def test_sub_unit_returns_to_its_lead_unit():
    order = in_state(State.ACCEPTED)
    order.do(ZJJ, "subdispatch", unit="ZJJ-WY")
    view = order.do(ZJJ_WY, "return", reason="应由建管科办理")
    assert view.state == State.ACCEPTED and view.assignee == "ZJJ"


def test_subdispatch_only_to_own_sub_unit():
    order = in_state(State.ACCEPTED)
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "subdispatch", unit="CGJ")
    assert err.value.code == "not_a_sub_unit"


def test_unknown_unit_is_rejected():
    with pytest.raises(ActionRejected) as err:
        Order().do(DISPATCHER, "dispatch", unit="NOPE")
    assert err.value.code == "unknown_unit"


def test_extension_limits():
    order = in_state(State.ACCEPTED)
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "extend_request", days=16, reason="太复杂")
    assert err.value.code == "extension_too_long"
    due = order.view.finish_due
    for n in range(3):
        order.do(ZJJ, "extend_request", days=2, reason=f"第{n + 1}次")
        with pytest.raises(ActionRejected):
            order.do(ZJJ, "extend_request", days=2, reason="重复申请")
        order.do(SUPERVISOR, "extend_decide", approve=True)
    assert order.view.extensions == 3
    assert order.view.finish_due == due + timedelta(days=8)  # 6 working days across weekends
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "extend_request", days=1, reason="第四次")
    assert err.value.code == "extension_limit_reached"


def test_refused_extension_keeps_the_deadline():
    order = in_state(State.ACCEPTED)
    due = order.view.finish_due
    order.do(ZJJ, "extend_request", days=5, reason="需协调")
    view = order.do(SUPERVISOR, "extend_decide", approve=False)
    assert view.finish_due == due and view.extensions == 0
    assert Flag.EXTENSION_PENDING not in view.flags


def test_co_unit_reply_does_not_close_the_unit_side():
    order = Order()
    order.do(DISPATCHER, "dispatch", unit="ZJJ", co_units=["CGJ"])
    order.do(ZJJ, "accept")
    view = order.do(CGJ, "reply", text="协办意见:已配合清理")
    assert view.state == State.ACCEPTED and view.co_replies == ("CGJ",)
    assert order.do(ZJJ, "reply", text="主办答复").state == State.REPLIED


def test_dissatisfied_rating_verified_invalid_closes():
    order = in_state(State.CALLBACK_PENDING)
    order.do(AGENT, "callback", satisfaction="dissatisfied", resolved=True)
    view = order.do(SUPERVISOR, "verify", valid=False, note="诉求超出职责范围")
    assert view.state == State.CLOSED and view.satisfaction == "dissatisfied"


def test_valid_complaint_reopens_with_rectification_deadline():
    order = in_state(State.ACCEPTED)
    order.do(ZJJ, "reply", text="已处理")
    order.do(SUPERVISOR, "review", approve=True)
    order.do(AGENT, "callback", satisfaction="dissatisfied", resolved=False)
    view = order.later(hours=1).do(SUPERVISOR, "verify", valid=True, note="属实")
    assert view.state == State.DISPATCHED and view.reopen_count == 1
    assert view.finish_due == POLICY.calendar.add_working_days(order.now, 15)


def test_urgent_order_runs_on_wall_clock():
    order = Order(urgency="urgent")
    view = order.do(DISPATCHER, "dispatch", unit="ZJJ")
    assert view.accept_due == T0 + timedelta(minutes=30)
    assert view.finish_due == T0 + timedelta(hours=24)


def test_stop_the_clock_while_returned():
    order = in_state(State.DISPATCHED)
    due = order.view.finish_due
    order.later(hours=1).do(ZJJ, "return", reason="非本单位")
    order.later(hours=24)  # a whole working day with the clock stopped
    view = order.do(DISPATCHER, "redispatch", unit="CGJ")
    assert view.finish_due == POLICY.calendar.add_working_days(due, 1)


def test_supervise_sets_a_new_due():
    order = in_state(State.ACCEPTED)
    new_due = datetime(2026, 11, 30, 17, 30, tzinfo=TZ)
    view = order.do(SUPERVISOR, "supervise", note="限期办结", due=new_due)
    assert view.finish_due == new_due and Flag.SUPERVISED in view.flags
    with pytest.raises(ActionRejected):
        order.do(SUPERVISOR, "supervise", note="过去的时间", due=T0 - timedelta(days=1))


def test_alarms_warning_then_overdue_once():
    order = in_state(State.ACCEPTED)  # complaint: 105 working hours, warning at 78.75 h
    view = order.view
    assert due_alarms(view, order.now, POLICY) == []
    warn_at = POLICY.calendar.add_working_seconds(
        view.finish_clock.running_since, 0.75 * view.finish_clock.budget
    )
    assert due_alarms(view, warn_at - timedelta(seconds=1), POLICY) == []
    assert due_alarms(view, warn_at, POLICY) == [Flag.WARNING]
    warned = apply(
        view, Event("warning", warn_at, "system", Role.SYSTEM, view.state, view.state), POLICY
    )
    assert due_alarms(warned, warn_at + timedelta(hours=1), POLICY) == []
    assert due_alarms(warned, view.finish_due, POLICY) == [Flag.OVERDUE]
    # skipped straight past both: only the overdue is raised
    assert due_alarms(view, view.finish_due + timedelta(days=1), POLICY) == [Flag.OVERDUE]


def test_accept_alarm_for_unaccepted_order():
    order = in_state(State.DISPATCHED)
    assert due_alarms(order.view, order.view.accept_due, POLICY) == [Flag.ACCEPT_OVERDUE]


def test_calendar_unverified_flag_beyond_published_years():
    order = Order()
    order.now = datetime(2040, 3, 5, 10, 0, tzinfo=TZ)
    view = order.do(DISPATCHER, "dispatch", unit="ZJJ")
    assert Flag.CALENDAR_UNVERIFIED in view.flags
    assert Flag.CALENDAR_UNVERIFIED not in in_state(State.DISPATCHED).view.flags


def test_log_must_start_with_registration():
    with pytest.raises(ValueError):
        replay(
            [
                Event(
                    "dispatch",
                    datetime.now(UTC),
                    "x",
                    Role.DISPATCHER,
                    State.REGISTERED,
                    State.DISPATCHED,
                    data={"unit": "ZJJ"},
                )
            ],
            POLICY,
        )


def test_suspension_stops_the_finish_clock():
    order = in_state(State.ACCEPTED)
    due = order.view.finish_due
    with pytest.raises(ActionRejected) as err:
        order.do(ZJJ, "resume")
    assert err.value.code == "not_suspended"
    view = order.later(hours=1).do(ZJJ, "suspend", reason="等待市民提供购房合同")
    assert {Flag.SUSPENDED, Flag.CLOCK_STOPPED} <= view.flags
    assert (
        due_alarms(view, due + timedelta(days=30), POLICY) == []
    )  # a stopped clock raises nothing
    with pytest.raises(ActionRejected):
        order.do(ZJJ, "suspend", reason="再次挂起")
    with pytest.raises(ActionForbidden):
        order.do(CGJ, "resume")
    view = order.later(hours=48).do(SUPERVISOR, "resume", note="材料已补齐")  # Wednesday
    assert Flag.SUSPENDED not in view.flags
    assert view.finish_due == POLICY.calendar.add_working_days(due, 2)


def test_escalation_after_two_more_working_days_overdue():
    order = in_state(State.ACCEPTED)
    due = order.view.finish_due
    overdue = apply(
        order.view,
        Event("overdue", due, "system", Role.SYSTEM, State.ACCEPTED, State.ACCEPTED),
        POLICY,
    )
    escalate_at = POLICY.calendar.add_working_days(due, 2)
    assert due_alarms(overdue, escalate_at - timedelta(seconds=1), POLICY) == []
    assert due_alarms(overdue, escalate_at, POLICY) == [Flag.ESCALATED]
    assert overdue.next_alarm(POLICY) == escalate_at


def test_redispatch_needs_a_new_acceptance_on_the_new_clock():
    order = in_state(State.ACCEPTED)
    first = order.view.accepted_at
    order.later(minutes=30).do(ZJJ, "return", reason="非本单位")
    view = order.later(hours=1).do(DISPATCHER, "redispatch", unit="CGJ")
    assert view.accepted_at is None and first is not None
    view = order.later(hours=5).do(CGJ, "accept")  # 2 working hours allowed: late
    assert view.accepted_at > view.accept_due


def test_the_agents_proposed_unit_is_folded_and_kept_through_dispatch_and_replay():
    """坐席建议派往: read from the registration, never an assignment, kept on record."""
    data = {"hotline": "12345", "channel": "phone", "type": "complaint", "urgency": "normal"}
    reg = Event("register", T0, "agent", Role.AGENT, None, State.REGISTERED, data=data)
    assert replay([reg], POLICY).proposed_unit is None
    order = Order()
    order.events = [replace(reg, data={**data, "proposed_unit": "CGJ"})]
    order.view = replay(order.events, POLICY)
    assert order.view.proposed_unit == "CGJ"
    assert (order.view.lead_unit, order.view.assignee) == (None, None)  # a proposal only
    assert order.view.state == State.REGISTERED
    view = order.do(DISPATCHER, "dispatch", unit="ZJJ")  # the dispatcher decides otherwise
    assert (view.lead_unit, view.proposed_unit) == ("ZJJ", "CGJ")
    assert replay(order.events, POLICY) == view
