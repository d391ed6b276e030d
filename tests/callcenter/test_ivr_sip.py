"""The IVR over real SIP: SIPp dials 12319, presses keys (RFC 2833 captures, SIP INFO)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter import storage
from callcenter.domain import Outcome
from callcenter.ivr import IvrConfig
from callcenter.prompts import hold_music
from callcenter.service import CallCenter
from config import SipSettings
from tests.callcenter.conftest import NUMBERS, ivr_scenario, run_sipp
from tests.callcenter.test_intake import assert_idle, records

CITIZEN = "13800138000"
FAST = IvrConfig(
    menu_timeout_seconds=0.3,
    menu_attempts=2,
    queue_long_wait_seconds=30,
    queue_max_wait_seconds=60,
)


def short_prompts(prompts_dir: Path, target: Path, names: tuple[str, ...]) -> Path:
    """The real prompts, but `names` replaced by 0.4 s of tone (so timers come quickly)."""
    for folder in (*NUMBERS, "common"):
        (target / folder).mkdir(parents=True, exist_ok=True)
        for wav in (prompts_dir / folder).glob("*.wav"):
            (target / folder / wav.name).symlink_to(wav)
    for name in names:
        for folder in (*NUMBERS, "common"):
            path = target / folder / f"{name}.wav"
            path.unlink(missing_ok=True)
            if folder == "common" or name in ("greeting", "menu"):
                path.write_bytes(hold_music(0.4))
    return target


async def make_center(settings: SipSettings, sessions, config: IvrConfig) -> CallCenter:
    center = CallCenter(settings, NUMBERS, sessions, ivr_settings=config)
    await center.start()
    return center


@pytest.fixture
async def center(sip_tools, sip_settings, sessions) -> AsyncIterator[CallCenter]:
    center = await make_center(sip_settings, sessions, FAST)
    yield center
    if center.endpoint.running:
        report = await center.stop()
        assert report.clean, report


async def callbacks(sessions) -> list[storage.Callback]:
    async with sessions() as session:
        return list(await session.scalars(select(storage.Callback).order_by(storage.Callback.id)))


async def dial(center, tmp_path, name, steps, end="bye", number="12319", caller=CITIZEN):
    scenario = ivr_scenario(tmp_path, name, steps, end)
    result = await run_sipp(scenario, center.endpoint.port, [(number, caller)], workdir=tmp_path)
    assert result.ok, result.output + result.errors
    await assert_idle(center)
    await center.flush()
    return await records(center._sessions)


async def test_press_1_queues_and_hanging_up_there_is_abandoned_with_a_callback(
    center, sessions, tmp_path
):
    steps = [("pause", 300), ("rfc2833", "1"), ("pause", 1500)]
    [row] = await dial(center, tmp_path, "press1", steps)
    assert center.dtmf_received == 1
    assert (row.hotline, row.queue, row.outcome) == ("12319", "general", Outcome.ABANDONED)
    assert row.ivr_answered_at <= row.queued_at < row.ended_at
    assert 1.0 < row.queue_wait_seconds < 5
    [entry] = await callbacks(sessions)
    assert (entry.call_id, entry.caller, entry.hotline) == (row.id, CITIZEN, "12319")
    assert (entry.reason, entry.queue, entry.state) == ("abandoned", "general", "open")
    assert entry.wait_seconds == pytest.approx(row.queue_wait_seconds, abs=0.5)


async def test_press_0_is_an_emergency_recorded_on_the_call(center, sessions, tmp_path):
    steps = [("pause", 300), ("rfc2833", "0"), ("pause", 800)]
    [row] = await dial(center, tmp_path, "press0", steps)
    assert (row.queue, row.emergency, row.outcome) == ("general", True, Outcome.ABANDONED)


async def test_press_2_over_sip_info_chooses_the_topic_queue(center, sessions, tmp_path):
    steps = [("pause", 200), ("info", "2"), ("pause", 500)]
    [row] = await dial(center, tmp_path, "info2", steps)
    assert (row.queue, row.outcome) == ("utilities", Outcome.ABANDONED)
    assert [c.reason for c in await callbacks(sessions)] == ["abandoned"]


async def test_press_9_registers_a_callback_and_the_centre_says_goodbye(center, sessions, tmp_path):
    steps = [("pause", 300), ("rfc2833", "9")]
    [row] = await dial(center, tmp_path, "press9", steps, end="wait_bye")
    assert (row.queue, row.outcome) == (None, Outcome.CALLBACK)
    [entry] = await callbacks(sessions)
    assert (entry.reason, entry.queue, entry.wait_seconds) == ("requested", None, None)


async def test_garbage_dtmf_replays_the_menu_then_the_default_queue(center, sessions, tmp_path):
    # '#', '7' and 'A' (SIP INFO) are no options: two failures make the default queue.
    steps = [
        ("pause", 200),
        ("rfc2833", "#"),
        ("info", "A"),
        ("info", "7"),
        ("rfc2833", "3"),
        ("pause", 500),
    ]
    [row] = await dial(center, tmp_path, "garbage", steps)
    assert (row.queue, row.outcome) == ("general", Outcome.ABANDONED)
    assert center.dtmf_received >= 3


async def test_malformed_sip_info_dtmf_is_refused_or_judged_as_garbage(center, sessions, tmp_path):
    steps = [
        ("pause", 200),
        ("info_raw", (["Signal 5", "Duration=160"], 400)),  # no '=': pjsua answers 400
        ("info_raw", (["hello"], 400)),
        ("info_raw", (["Signal=", "Duration=x"], 200)),  # an empty signal: a garbage digit
        ("info", "2"),
        ("pause", 300),
    ]
    [row] = await dial(center, tmp_path, "bad-info", steps)
    assert (row.queue, row.outcome) == ("utilities", Outcome.ABANDONED)
    assert center.dtmf_received == 2  # the empty signal and the 2


async def test_silence_times_out_into_the_default_queue(
    sip_tools, sip_settings, sessions, tmp_path, prompts_dir
):
    # Short prompts, so the menu timeouts come quickly.
    short = short_prompts(prompts_dir, tmp_path / "short", ("greeting", "menu", "invalid"))
    settings = sip_settings.model_copy(update={"prompts_dir": str(short)})
    center = await make_center(settings, sessions, FAST)
    try:
        [row] = await dial(center, tmp_path, "silence", [("pause", 3000)])
        assert (row.queue, row.outcome) == ("general", Outcome.ABANDONED)
        assert center.dtmf_received == 0
    finally:
        assert (await center.stop()).clean


async def test_long_wait_offers_a_callback_and_press_1_takes_it(
    sip_tools, sip_settings, sessions, tmp_path, prompts_dir
):
    config = IvrConfig(queue_long_wait_seconds=0.5, queue_max_wait_seconds=60)
    short = short_prompts(prompts_dir, tmp_path / "short", ("callback_offer", "callback_ok"))
    settings = sip_settings.model_copy(update={"prompts_dir": str(short)})
    center = await make_center(settings, sessions, config)
    try:
        # The same capture replayed twice has the same RTP timestamps: pjmedia takes the
        # second as a repeat of the first event, so the second "1" goes by SIP INFO.
        steps = [("pause", 200), ("rfc2833", "1"), ("pause", 1200), ("info", "1")]
        [row] = await dial(center, tmp_path, "offer", steps, end="wait_bye")
        assert (row.queue, row.outcome) == ("general", Outcome.CALLBACK)
        [entry] = await callbacks(sessions)
        assert entry.reason == "requested" and entry.wait_seconds >= 0.5
    finally:
        assert (await center.stop()).clean


async def test_max_wait_ends_the_call_politely_with_a_callback(
    sip_tools, sip_settings, sessions, tmp_path, prompts_dir
):
    config = IvrConfig(queue_long_wait_seconds=30, queue_max_wait_seconds=0.5)
    short = short_prompts(prompts_dir, tmp_path / "short", ("callback_ok",))
    settings = sip_settings.model_copy(update={"prompts_dir": str(short)})
    center = await make_center(settings, sessions, config)
    try:
        steps = [("pause", 200), ("info", "1")]
        [row] = await dial(center, tmp_path, "overflow", steps, end="wait_bye")
        assert row.outcome is Outcome.CALLBACK
        assert [c.reason for c in await callbacks(sessions)] == ["overflow"]
    finally:
        assert (await center.stop()).clean


async def test_many_callers_in_the_menu_and_queue_at_once(center, sessions, tmp_path):
    steps = [("pause", 200), ("rfc2833", "2"), ("pause", 800)]
    scenario = ivr_scenario(tmp_path, "many", steps, "bye")
    calls = [("12319", f"1390000{i:04d}") for i in range(10)]
    result = await run_sipp(scenario, center.endpoint.port, calls, workdir=tmp_path, rate=50)
    assert result.ok, result.output + result.errors
    await assert_idle(center)
    await center.flush()
    rows = await records(sessions)
    assert [(r.queue, r.outcome) for r in rows] == [("utilities", Outcome.ABANDONED)] * 10
    assert len(await callbacks(sessions)) == 10


async def test_shutdown_while_waiting_leaves_a_dropped_callback(center, sessions, tmp_path):

    scenario = ivr_scenario(
        tmp_path, "dropped", [("pause", 200), ("info", "1"), ("pause", 20000)], "bye"
    )
    sipp = asyncio.create_task(
        run_sipp(scenario, center.endpoint.port, [("12319", CITIZEN)], workdir=tmp_path)
    )
    for _ in range(100):
        await center.flush()
        rows = await records(sessions)
        if rows and rows[0].queued_at:
            break
        await asyncio.sleep(0.05)
    report = await center.stop()
    assert report.clean, report
    [row] = await records(sessions)
    assert (row.queue, row.outcome) == ("general", Outcome.CALLBACK)
    assert [c.reason for c in await callbacks(sessions)] == ["dropped"]
    await sipp  # SIPp counts the BYE it did not expect as a failed call: fine
