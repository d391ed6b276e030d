"""Call recordings on disk: where a recording goes and repairing interrupted ones.

pjmedia's WAV writer fills in the RIFF and data chunk sizes only when the recorder is
destroyed; a process that dies mid-call leaves sizes of 0 that players reject. The
samples are all there, so start-up rewrites the two size fields from the file length.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

_HEADER_SCAN = 4096


def recording_path(directory: Path, record_id: str, offered_at: datetime) -> Path:
    """<directory>/<yyyy-mm-dd>/<record id>.wav (dated folders keep retention cheap)."""
    return directory / offered_at.strftime("%Y-%m-%d") / f"{record_id}.wav"


def repair_wav(path: Path) -> bool:
    """Fix the size fields of a WAV file cut short; True if the file was changed."""
    with path.open("r+b") as fh:
        head = fh.read(_HEADER_SCAN)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        size = os.fstat(fh.fileno()).st_size
        pos = 12
        while pos + 8 <= len(head):
            chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
            if chunk == b"data":
                data = size - (pos + 8)
                data -= data % 2  # whole 16-bit samples
                riff = pos + data
                if length == data and int.from_bytes(head[4:8], "little") == riff:
                    return False
                fh.seek(4)
                fh.write(riff.to_bytes(4, "little"))
                fh.seek(pos + 4)
                fh.write(data.to_bytes(4, "little"))
                return True
            pos += 8 + length + (length & 1)
    return False


def repair_recordings(directory: Path) -> int:
    """Repair every interrupted recording under `directory`; returns how many."""
    repaired = 0
    if not directory.is_dir():
        return 0
    for path in directory.rglob("*.wav"):
        try:
            if repair_wav(path):
                repaired += 1
                log.warning("repaired the WAV header of interrupted recording %s", path)
        except OSError as exc:
            log.warning("cannot check recording %s: %s", path, exc)
    return repaired


def purge_recordings(directory: Path, keep_days: int, today: datetime) -> int:
    """Delete the dated folders older than `keep_days` (0: keep everything); how many files.

    The call records keep their `recording` path: a missing file is served as 404.
    """
    if keep_days <= 0 or not directory.is_dir():
        return 0
    cutoff = (today.date() - timedelta(days=keep_days)).isoformat()
    removed = 0
    for folder in directory.iterdir():
        if not folder.is_dir() or len(folder.name) != 10 or folder.name >= cutoff:
            continue
        try:
            date.fromisoformat(folder.name)
        except ValueError:
            continue  # not one of ours
        for wav in folder.glob("*.wav"):
            wav.unlink(missing_ok=True)
            removed += 1
        with contextlib.suppress(OSError):
            folder.rmdir()
    if removed:
        log.info("recording retention (%d days): %d recordings deleted", keep_days, removed)
    return removed


def resolve(directory: Path, stored: str) -> Path:
    """A call record's `recording` as a path (absolute, or relative to `directory`)."""
    path = Path(stored)
    return path if path.is_absolute() else directory / path
