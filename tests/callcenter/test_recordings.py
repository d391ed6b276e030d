"""Recordings cut short by a crash get their WAV header repaired at start-up."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

from callcenter.recordings import recording_path, repair_recordings, repair_wav


def write_wav(path: Path, frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x01\x00" * frames)


def zero_sizes(path: Path) -> None:
    """What pjmedia leaves on disk when the recorder is never destroyed."""
    data = bytearray(path.read_bytes())
    data[4:8] = bytes(4)
    data[40:44] = bytes(4)
    path.write_bytes(bytes(data))


def test_interrupted_recording_is_repaired(tmp_path):
    path = tmp_path / "rec.wav"
    write_wav(path, 8000)
    zero_sizes(path)
    assert repair_wav(path)
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 8000
    assert not repair_wav(path)  # a second pass changes nothing


def test_complete_and_foreign_files_are_left_alone(tmp_path):
    good = tmp_path / "a" / "good.wav"
    write_wav(good, 100)
    before = good.read_bytes()
    bad = tmp_path / "b" / "bad.wav"
    write_wav(bad, 50)
    zero_sizes(bad)
    (tmp_path / "notes.wav").write_bytes(b"not a wav file")
    assert repair_recordings(tmp_path) == 1
    assert good.read_bytes() == before
    assert repair_recordings(tmp_path / "missing") == 0


def test_recordings_are_filed_by_day():
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert recording_path(Path("/r"), "abc", at) == Path("/r/2026-11-23/abc.wav")


def test_retention_deletes_dated_folders_older_than_the_setting(tmp_path):
    from datetime import UTC, datetime

    from callcenter.recordings import purge_recordings

    for day in ("2026-11-01", "2026-11-20", "2026-11-23"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.wav").write_bytes(b"RIFF")
    today = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert purge_recordings(tmp_path, 0, today) == 0  # 0: keep everything
    assert purge_recordings(tmp_path, 3, today) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-20", "2026-11-23", "notes"]
