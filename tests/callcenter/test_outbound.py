"""The outbound shell (callcenter/outbound.py) and the campaign pacer, without SIP: a
prompt whose end the media clock never reports is taken as finished after its length
and a grace (seen under a burst of call set-ups), and calls are spread over the minute.

The endpoint here is a stand-in on purpose: a lost end-of-prompt report cannot be
provoked on demand with the real pjsua2 endpoint."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from callcenter import events as ev
from callcenter import outbound
from callcenter.campaigns import KEY_TIMER, CallPhase, CampaignCall, Pacer
from callcenter.prompts import hold_music
from tests.conftest import MONDAY_10AM


class Endpoint:
    running = True

    def __init__(self) -> None:
        self.played: list[tuple[int, str, int]] = []
        self.hung_up: list[int] = []
        self.dialled: list[str] = []

    def new_leg(self) -> int:
        return 7

    def dial(self, leg: int, uri: str, headers) -> None:
        self.dialled.append(uri)

    def play(self, leg: int, files: list[Path], token: int) -> None:
        self.played.append((leg, files[-1].stem, token))

    def hangup(self, leg: int) -> None:
        self.hung_up.append(leg)


class Center:
    def __init__(self) -> None:
        self.endpoint = Endpoint()


class Dialer(outbound.OutboundDialer):
    def __init__(self, prompts: Path) -> None:
        settings = type("S", (), {"survey_uri": "sip:{phone}@gw", "survey_ring_seconds": 30})
        super().__init__(Center(), None, settings, lambda: MONDAY_10AM)
        self.prompts = prompts
        self.recorded: list[tuple[dict, str]] = []

    def prompt_files(self, call, prompts):
        return [self.prompts / f"{prompts[-1]}.wav"]

    async def record(self, call, how):
        self.recorded.append((dict(call.call.answers), how))


async def test_a_prompt_end_never_reported_is_taken_as_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(outbound, "PROMPT_GRACE_SECONDS", 0.1)
    for name in ("intro", "q1", "thanks"):
        (tmp_path / f"{name}.wav").write_bytes(hold_music(0.2))
    assert abs(outbound.wav_seconds(tmp_path / "q1.wav") - 0.2) < 0.01
    assert outbound.wav_seconds(tmp_path / "missing.wav") == 0.0
    dialer = Dialer(tmp_path)
    keys = CampaignCall([{"1": "是", "2": "否"}], key_timeout=5)
    dialer.dial("13800138000", keys, "target-1", [])
    assert dialer.center.endpoint.dialled == ["sip:13800138000@gw"] and dialer.owns(7)
    dialer.on_event(ev.CallConfirmed(7))
    dialer.on_event(ev.MediaStarted(7, None))
    assert dialer.center.endpoint.played == [(7, "intro", 1)]
    await asyncio.sleep(0.5)  # the intro's end is never reported
    assert dialer.prompts_overdue == 1 and keys.phase is CallPhase.ASKING
    assert dialer.center.endpoint.played[-1] == (7, "q1", 2)
    dialer.on_event(ev.PromptFinished(7, 2))  # reported this time: no second guess
    await asyncio.sleep(0.4)
    assert dialer.prompts_overdue == 1 and KEY_TIMER in dialer._legs[7].timers
    dialer.on_event(ev.DtmfReceived(7, "2", "sip_info"))
    await asyncio.sleep(0.4)  # the thanks' end lost too: hung up all the same
    assert dialer.prompts_overdue == 2 and dialer.center.endpoint.hung_up == [7]
    dialer.on_event(ev.CallDisconnected(7, 200, "Normal call clearing", True))
    await dialer.wait_idle()
    assert dialer.recorded == [({"0": "2"}, "200 Normal call clearing")]


def test_the_pacer_spreads_calls_over_the_minute():
    pacer = Pacer(300, MONDAY_10AM)  # 5 a second, a second's worth saved up at most
    assert pacer.allowance(300, MONDAY_10AM) == 5
    for _ in range(5):
        pacer.spend()
    assert pacer.allowance(300, MONDAY_10AM) == 0
    assert pacer.allowance(300, MONDAY_10AM + timedelta(seconds=0.5)) == 2
    assert pacer.allowance(300, MONDAY_10AM + timedelta(minutes=5)) == 5  # never a burst
    slow = Pacer(2, MONDAY_10AM)  # 2 a minute: one call, then one every 30 s
    assert slow.allowance(2, MONDAY_10AM) == 1
    slow.spend()
    assert slow.allowance(2, MONDAY_10AM + timedelta(seconds=29)) == 0
    assert slow.allowance(2, MONDAY_10AM + timedelta(seconds=31)) == 1
