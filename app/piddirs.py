"""Temporary directories owned by a process: `<tmp>/<prefix><pid>-<random>`.

Their owner removes them when it ends; a process killed outright cannot, so whoever
makes the next one with the same prefix removes those whose process is gone (never a
living process's). Used for the reading pool's KB index files and the metrics files
several service processes share. No imports beyond the standard library: run.py makes
the metrics directory before prometheus_client may be imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def make(prefix: str) -> Path:
    """A new directory of this process, after removing those of dead processes."""
    remove_orphans(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_orphans(prefix: str) -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = path.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
