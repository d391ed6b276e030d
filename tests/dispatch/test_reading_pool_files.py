"""The reading pool's KB index files: a pool removes the directories that processes
killed outright left behind, never a living process's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dispatch.reading_pool import INDEX_DIR_PREFIX, ReadingPool


async def test_a_new_pool_removes_the_index_directories_of_dead_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead = tmp_path / f"{INDEX_DIR_PREFIX}{int(gone.stdout)}-abc"
    living = tmp_path / f"{INDEX_DIR_PREFIX}1-def"  # init: always there
    other = tmp_path / f"{INDEX_DIR_PREFIX}xyz"  # not ours to judge
    for path in (dead, living, other):
        (path / "kb-1.pickle").parent.mkdir()
        (path / "kb-1.pickle").write_bytes(b"x")
    pool = ReadingPool(0, Path("/nonexistent"))
    mine = list(tmp_path.glob(f"{INDEX_DIR_PREFIX}{os.getpid()}-*"))
    assert not dead.exists() and living.exists() and other.exists() and len(mine) == 1
    await pool.close()
    assert not mine[0].exists()
