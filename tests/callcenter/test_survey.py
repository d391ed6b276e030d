"""The survey call's key collection, pure (no SIP): questions, wrong keys, silence."""

from __future__ import annotations

from datetime import datetime

from callcenter.ivr import CancelTimer, Hangup, Play, StartTimer
from callcenter.survey import (
    KEY_TIMER,
    Q1,
    Q2,
    THANKS,
    SurveyAnswered,
    SurveyCall,
    SurveyPhase,
    in_calling_hours,
)
from dispatch.lifecycle import Satisfaction


def test_two_keys_answer_the_survey():
    call = SurveyCall()
    assert call.digit("1") == []  # nothing asked yet
    assert call.start() == [Play((Q1,))]
    assert call.prompt_finished(Q1) == [StartTimer(KEY_TIMER, call.key_timeout)]
    assert call.digit("2") == [CancelTimer(KEY_TIMER), Play((Q2,))]
    actions = call.digit("1")
    assert SurveyAnswered(Satisfaction.BASIC, True) in actions and actions[-1] == Play((THANKS,))
    assert call.prompt_finished(THANKS) == [Hangup()]
    assert call.digit("3") == [] and call.phase is SurveyPhase.DONE


def test_keys_during_the_question_count_and_3_2_is_dissatisfied_unresolved():
    call = SurveyCall()
    call.start()
    call.digit("3")  # type-ahead: before the end of question 1
    actions = call.digit("2")
    assert SurveyAnswered(Satisfaction.DISSATISFIED, False) in actions


def test_a_wrong_key_or_silence_replays_once_then_the_call_ends_without_an_answer():
    call = SurveyCall()
    call.start()
    assert call.digit("7") == [CancelTimer(KEY_TIMER), Play((Q1,))]
    assert call.timer(KEY_TIMER) == [CancelTimer(KEY_TIMER), Hangup()]
    assert call.phase is SurveyPhase.DONE and call.satisfaction is None
    call = SurveyCall()
    call.start()
    call.digit("1")
    assert call.digit("#") == [CancelTimer(KEY_TIMER), Play((Q2,))]
    assert call.digit("9")[-1] == Hangup()


def test_calling_hours_are_local_and_half_open():
    assert in_calling_hours(datetime(2026, 11, 23, 9, 0), (9, 20))
    assert not in_calling_hours(datetime(2026, 11, 23, 20, 0), (9, 20))
    assert not in_calling_hours(datetime(2026, 11, 23, 8, 59), (9, 20))
