"""多语种: one key per language in the first menu, prompts in that language, language
queues taken only by agents with the skill (then the language desk), the caller's
choice remembered by number — pure, prompts, and over real SIP with SIPp."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter import agents, ivr, languages, storage
from callcenter.acd import Acd
from callcenter.agents import Agent
from callcenter.ivr import Enqueue, IvrCall, IvrConfig, Play
from callcenter.prompts import ensure_ivr_prompts
from callcenter.service import CallCenter
from config import SipSettings
from tests.callcenter.conftest import NUMBERS
from tests.callcenter.test_ivr_sip import FAST, dial, short_prompts

OFFERED = ["yue", "en", "ug", "kk"]
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def menu_call(remembered: str | None = None) -> IvrCall:
    call = IvrCall(ivr.menu_for("12345", OFFERED), IvrConfig(menu_attempts=2))
    call.remembered = remembered
    call.greeting_finished()
    return call


def test_each_language_is_one_key_of_the_first_menu_spoken_in_itself():
    menu = ivr.menu_for("12345", OFFERED)
    assert [o.digit for o in menu.options] == ["1", "2", "5", "6", "7", "8", "9", "0"]
    assert menu.option("6").queue == "lang_en" and menu.option("6").language == "en"
    # The Mandarin prompt leaves the languages to their own voices.
    assert "English" not in menu.prompt_text() and "请按6" not in menu.prompt_text()
    assert [o.digit for o in ivr.menu_for("12345").options] == ["1", "2", "9", "0"]


@pytest.mark.parametrize("code", OFFERED)
def test_a_chosen_language_queues_there_and_speaks_it(code):
    lang = languages.LANGUAGES[code]
    call = menu_call()
    actions = call.digit(lang.digit)
    assert Enqueue(f"lang_{code}") in actions
    assert Play((f"queue.{code}",)) in actions
    assert (call.language, call.queue) == (code, f"lang_{code}")
    assert call.prompt_finished(f"queue.{code}") == [ivr.Hold()]
    assert call.timer(ivr.LONG_WAIT_TIMER) == [Play((f"callback_offer.{code}",))]
    assert Play((f"callback_ok.{code}",)) in call.digit("1")


def test_mandarin_keeps_the_plain_prompts():
    call = menu_call(remembered="en")
    assert Play((ivr.QUEUE,)) in call.digit("1")
    assert call.language is None


def test_a_remembered_language_is_the_queue_of_a_caller_who_presses_nothing():
    call = menu_call(remembered="ug")
    call.timer(ivr.MENU_TIMER)
    actions = call.timer(ivr.MENU_TIMER)
    assert Enqueue("lang_ug") in actions and Play(("queue.ug",)) in actions
    assert (call.choice, call.language) == ("default", "ug")
    # A language the menu no longer offers: the default queue, in Mandarin.
    gone = IvrCall(ivr.menu_for("12345", ["en"]), IvrConfig(menu_attempts=1))
    gone.remembered = "kk"
    gone.greeting_finished()
    assert Enqueue("general") in gone.timer(ivr.MENU_TIMER) and gone.language is None


def test_unknown_languages_are_refused_in_the_configuration():
    with pytest.raises(ValueError, match="unknown languages"):
        SipSettings(languages=["en", "fr"])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(user_id: int, idle: float, queues: tuple[str, ...] = ()) -> Agent:
    a = Agent(user_id, f"agent{user_id}")
    return agents.login(a, f"sip:agent{user_id}@127.0.0.1:5070", queues, at(idle))


def test_language_callers_wait_for_the_skill_then_the_language_desk():
    acd = Acd(overflow_seconds=60)
    for a in (
        agent(1, 0),  # no skills: every queue but the languages'
        agent(2, 1, ("general",)),
        agent(3, 2, (languages.LANGUAGE_DESK,)),
    ):
        acd.agents[a.user_id] = a
    acd.enqueue(100, "lang_en", at(10))
    acd.enqueue(101, "general", at(11))
    [(entry, taker)] = acd.assign(at(12))
    assert (entry.leg, taker.user_id) == (101, 1)  # nobody speaks English yet
    assert acd.assign(at(30)) == []
    [(entry, taker)] = acd.assign(at(71))  # after overflow: the desk, not agent 2
    assert (entry.leg, taker.user_id) == (100, 3)
    english = agent(4, 0, ("general", "lang_en"))
    assert english.takes(frozenset({"lang_en"})) and not agent(5, 0).takes({"lang_en"})


def test_languages_set_by_an_admin_are_taken_whatever_the_agent_chose_at_login():
    acd = Acd(overflow_seconds=60)
    general = agent(1, 0, ("general",))
    cantonese = replace(agent(2, 5, ("general",)), languages=("yue", "en"))
    for a in (general, cantonese):
        acd.agents[a.user_id] = a
    assert cantonese.takes(frozenset({"lang_yue"})) and cantonese.takes(frozenset({"general"}))
    assert not cantonese.takes(frozenset({"lang_ug"})) and not general.takes({"lang_yue"})
    # login keeps them (they are the admin's), like the queues it is not given again
    again = agents.login(agents.logout(cantonese, at(6)), "sip:agent2@127.0.0.1:5070", (), at(7))
    assert again.languages == ("yue", "en")
    acd.enqueue(100, "lang_yue", at(10))
    [(entry, taker)] = acd.assign(at(12))  # before the overflow: the agent who speaks it
    assert (entry.leg, taker.user_id) == (100, 2)


def test_language_prompts_and_menus_are_written_in_each_voice(tmp_path):
    paths = ensure_ivr_prompts(["12345"], tmp_path, OFFERED)
    names = {p.name for p in paths}
    for code in OFFERED:
        assert {
            f"queue.{code}.wav",
            f"callback_offer.{code}.wav",
            f"callback_ok.{code}.wav",
        } <= names
    menu = tmp_path / "12345" / "menu.wav"
    said = menu.with_suffix(".txt").read_text(encoding="utf-8")
    assert "[en-us] For English, press 6." in said and "[ug]" in said and "[yue]" in said
    with wave.open(str(menu)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 8000 * 8  # Mandarin menu and four languages
    stamps = [p.stat().st_mtime_ns for p in paths]
    ensure_ivr_prompts(["12345"], tmp_path, OFFERED)  # unchanged texts: nothing rewritten
    assert [p.stat().st_mtime_ns for p in paths] == stamps


# ------------------------------------------------------------------ over SIP


@pytest.fixture
async def center(sip_tools, sip_settings, sessions, tmp_path) -> AsyncIterator[CallCenter]:
    # Short greeting and menu (so the menu's timeouts come quickly), real other prompts.
    short = ("greeting", "menu", "invalid")
    prompts = short_prompts(Path(sip_settings.prompts_dir), tmp_path / "prompts", short)
    for code in OFFERED:  # stand-ins for the language prompts
        for name in ("queue", "callback_offer", "callback_ok"):
            source = Path(sip_settings.prompts_dir) / "common" / f"{name}.wav"
            (prompts / "common" / f"{name}.{code}.wav").symlink_to(source)
    settings = sip_settings.model_copy(update={"languages": OFFERED, "prompts_dir": str(prompts)})
    center = CallCenter(settings, NUMBERS, sessions, ivr_settings=FAST)
    await center.start()
    yield center
    if center.endpoint.running:
        report = await center.stop()
        assert report.clean, report


async def choices(sessions) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.scalars(select(storage.CallerLanguage))
        return {r.phone: r.language for r in rows}


@pytest.mark.parametrize("code", OFFERED)
async def test_each_language_over_sip_is_queued_recorded_and_remembered(
    center, sessions, tmp_path, code
):
    digit = languages.LANGUAGES[code].digit
    steps = [("pause", 300), ("rfc2833", digit), ("pause", 800)]
    [row] = await dial(center, tmp_path, f"lang-{code}", steps, caller="13900139000")
    assert (row.queue, row.language) == (f"lang_{code}", code)
    assert await choices(sessions) == {"13900139000": code}


async def test_the_next_call_without_a_key_waits_in_the_remembered_language(
    center, sessions, tmp_path
):
    caller = "13700137000"
    steps = [("pause", 300), ("rfc2833", "7"), ("pause", 600)]
    await dial(center, tmp_path, "first", steps, caller=caller)
    # Silence: the menu times out twice (FAST), then the remembered language's queue.
    rows = await dial(center, tmp_path, "second", [("pause", 3000)], caller=caller)
    second = max(rows, key=lambda r: r.offered_at)
    assert (second.queue, second.language) == ("lang_ug", "ug")
    # Pressing 1 (普通话) is a choice too: remembered for the next call.
    await dial(
        center, tmp_path, "third", [("pause", 300), ("rfc2833", "1"), ("pause", 600)], caller=caller
    )
    assert await choices(sessions) == {caller: "zh"}
