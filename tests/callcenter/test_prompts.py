"""Placeholder Mandarin greetings: 8 kHz mono 16-bit WAV, rewritten only on change."""

from __future__ import annotations

import wave

from callcenter.prompts import ensure_greetings, greeting_text
from tests.callcenter.conftest import HOTLINES


def test_greeting_reads_the_number_digit_by_digit():
    assert "1 2 3 4 5" in greeting_text("12345政务服务便民热线")


def test_greetings_are_telephone_wavs_and_idempotent(prompts_dir):
    paths = ensure_greetings(HOTLINES, prompts_dir)
    assert [p.parent.name for p in paths] == [number for number, _ in HOTLINES]
    for path in paths:
        with wave.open(str(path)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            assert wav.getnframes() > 8000  # more than a second of speech
    stamps = [p.stat().st_mtime_ns for p in paths]
    ensure_greetings(HOTLINES, prompts_dir)
    assert [p.stat().st_mtime_ns for p in paths] == stamps
