"""The IVR state machine without SIP: menu, garbage, timeouts, queue, callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter import domain, ivr
from callcenter.domain import Outcome
from callcenter.exceptions import IllegalCallTransition
from callcenter.ivr import (
    CallbackReason,
    CancelTimer,
    Enqueue,
    Hangup,
    Hold,
    IvrCall,
    IvrConfig,
    Phase,
    Play,
    RegisterCallback,
    StartTimer,
)

CONFIG = IvrConfig(
    menu_timeout_seconds=5, menu_attempts=3, queue_long_wait_seconds=60, queue_max_wait_seconds=600
)
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def call(hotline: str = "12319") -> IvrCall:
    return IvrCall(ivr.menu_for(hotline), CONFIG)


def enqueued(queue: str) -> list:
    return [
        CancelTimer(ivr.MENU_TIMER),
        Enqueue(queue),
        Play((ivr.QUEUE,)),
        StartTimer(ivr.LONG_WAIT_TIMER, 60),
        StartTimer(ivr.MAX_WAIT_TIMER, 600),
    ]


def test_menus_per_hotline():
    assert [o.digit for o in ivr.menu_for("12319").options] == ["1", "2", "9", "0"]
    assert ivr.menu_for("12319").option("2").queue == "utilities"
    assert ivr.menu_for("12345").option("2").queue == "business"
    unknown = ivr.menu_for("96110")  # a hotline without a topic: 1 and 9 only
    assert [o.digit for o in unknown.options] == ["1", "9", "0"]
    text = ivr.menu_for("12319").prompt_text()
    assert text.startswith("普通话服务请按1,") and "需要回电请按9" in text
    assert text.endswith("紧急求助请按0。")


def test_0_is_an_emergency_in_the_menu_and_in_the_queue():
    c = call()
    actions = c.digit("0")
    assert ivr.Enqueue("general") in actions and actions[-1] == ivr.MarkEmergency()
    assert c.emergency and c.phase is Phase.QUEUED
    assert c.digit("0") == []  # once is enough
    queued = call()
    queued.digit("1")
    assert queued.digit("0") == [ivr.MarkEmergency()] and queued.emergency


def test_greeting_then_menu_then_timer_after_the_prompt():
    c = call()
    assert c.greeting_finished() == [Play((ivr.MENU,))]
    assert c.phase is Phase.MENU
    assert c.prompt_finished(ivr.MENU) == [StartTimer(ivr.MENU_TIMER, 5)]
    assert c.greeting_finished() == []  # only once


def test_press_1_and_2_choose_queues():
    c = call()
    c.greeting_finished()
    assert c.digit("1") == enqueued("general")
    assert (c.phase, c.queue, c.choice) == (Phase.QUEUED, "general", "1")
    c2 = call()
    assert c2.digit("2") == enqueued("utilities")  # type-ahead during the greeting
    assert c2.greeting_finished() == []  # the greeting was cut short


def test_garbage_replays_with_invalid_prompt_then_default_queue():
    c = call()
    c.greeting_finished()
    assert c.digit("#") == [CancelTimer(ivr.MENU_TIMER), Play((ivr.INVALID, ivr.MENU))]
    assert c.digit("\x00") == [CancelTimer(ivr.MENU_TIMER), Play((ivr.INVALID, ivr.MENU))]
    assert c.digit("7") == enqueued("general")
    assert (c.failures, c.choice) == (3, "default")


def test_star_repeats_the_menu_without_counting():
    c = call()
    for _ in range(10):
        assert c.digit("*") == [CancelTimer(ivr.MENU_TIMER), Play((ivr.MENU,))]
    assert c.failures == 0 and c.phase is Phase.MENU


def test_timeouts_replay_the_menu_then_default_queue():
    c = call()
    c.greeting_finished()
    assert c.timer(ivr.MENU_TIMER) == [CancelTimer(ivr.MENU_TIMER), Play((ivr.MENU,))]
    assert c.timer(ivr.MENU_TIMER) == [CancelTimer(ivr.MENU_TIMER), Play((ivr.MENU,))]
    assert c.timer(ivr.MENU_TIMER) == enqueued("general")
    assert c.timer(ivr.MENU_TIMER) == []  # a stale timer in the queue does nothing


def test_timeout_and_garbage_count_together():
    c = call()
    c.greeting_finished()
    c.timer(ivr.MENU_TIMER)
    c.digit("5")
    assert c.digit("5")[1:2] == [Enqueue("general")]


def test_queue_holds_after_the_queue_prompt_and_ignores_digits_before_the_offer():
    c = call()
    c.digit("1")
    assert c.prompt_finished(ivr.QUEUE) == [Hold()]
    assert c.digit("1") == []  # no callback offered yet
    assert c.digit("9") == []
    assert c.ignored == 2


def test_long_wait_offers_callback_and_1_takes_it():
    c = call()
    c.digit("1")
    assert c.timer(ivr.LONG_WAIT_TIMER) == [Play((ivr.CALLBACK_OFFER,))]
    assert c.prompt_finished(ivr.CALLBACK_OFFER) == [Hold()]
    assert c.digit("2") == []
    assert c.digit("1") == [
        CancelTimer(ivr.LONG_WAIT_TIMER),
        CancelTimer(ivr.MAX_WAIT_TIMER),
        RegisterCallback(CallbackReason.REQUESTED),
        Play((ivr.CALLBACK_OK,)),
    ]
    assert c.phase is Phase.CALLBACK
    assert c.digit("1") == []  # once
    assert c.prompt_finished(ivr.CALLBACK_OK) == [Hangup()]
    assert c.hung_up() == []  # not abandoned: the callback is registered
    assert c.callback is CallbackReason.REQUESTED


def test_menu_9_is_a_callback_request():
    c = call()
    c.greeting_finished()
    actions = c.digit("9")
    assert RegisterCallback(CallbackReason.REQUESTED) in actions
    assert actions[-1] == Play((ivr.CALLBACK_OK,))
    assert c.queue is None


def test_max_wait_is_an_overflow_callback():
    c = call()
    c.digit("2")
    actions = c.timer(ivr.MAX_WAIT_TIMER)
    assert RegisterCallback(CallbackReason.OVERFLOW) in actions


def test_hanging_up_in_the_queue_is_abandoned_elsewhere_not():
    c = call()
    c.digit("1")
    assert c.hung_up() == [RegisterCallback(CallbackReason.ABANDONED)]
    assert c.abandoned and c.phase is Phase.DONE
    in_menu = call()
    in_menu.greeting_finished()
    assert in_menu.hung_up() == [] and not in_menu.abandoned
    assert in_menu.digit("1") == []  # after hang-up nothing happens


def test_a_caller_dropped_by_the_centre_while_waiting_is_owed_a_callback():
    c = call()
    c.digit("1")
    assert c.dropped() == [RegisterCallback(CallbackReason.DROPPED)]
    assert not c.abandoned and c.phase is Phase.DONE
    in_menu = call()
    assert in_menu.dropped() == [] and in_menu.callback is None


@pytest.mark.parametrize("digit", [*"0123456789*#ABCD", "", "xx", "\x00", "１"])
def test_any_digit_in_any_phase_is_handled(digit):
    for prepare in (
        lambda c: None,
        lambda c: c.greeting_finished(),
        lambda c: c.digit("1"),
        lambda c: (c.digit("1"), c.timer(ivr.LONG_WAIT_TIMER)),
        lambda c: c.digit("9"),
        lambda c: c.hung_up(),
    ):
        c = call()
        prepare(c)
        assert isinstance(c.digit(digit), list)


def test_call_record_queue_outcomes():
    offered = domain.offer("a" * 32, "12319", "138", T0)
    answered = domain.answer(offered, T0 + timedelta(seconds=1))
    queued = domain.enqueue(answered, "general", T0 + timedelta(seconds=5))
    assert queued.queued_at == T0 + timedelta(seconds=5) and queued.queue == "general"
    abandoned = domain.end(queued, T0 + timedelta(seconds=35))
    assert abandoned.outcome is Outcome.ABANDONED
    assert abandoned.queue_wait_seconds == 30
    assert domain.end(queued, T0 + timedelta(seconds=9), callback=True).outcome is (
        Outcome.CALLBACK
    )
    assert domain.end(answered, T0 + timedelta(seconds=9)).outcome is Outcome.COMPLETED
    assert answered.queue_wait_seconds is None
    with pytest.raises(IllegalCallTransition):
        domain.enqueue(offered, "general", T0)
