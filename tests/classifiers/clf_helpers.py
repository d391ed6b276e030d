"""Helpers shared by the classifier tests (unique module name: no clash with other
packages' conftest modules when the whole test suite runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN_DATA = ROOT / "classifiers" / "data"
# ../shared from the main checkout, ../../shared from a worktree (/work/wt/<name>).
_CANDIDATES = [p / "shared" / "data" / "tipdm2020" for p in (ROOT.parent, ROOT.parent.parent)]
TIPDM_DIR = Path(
    os.environ.get("TIPDM_DIR") or next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m classifiers ARGS`` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "classifiers", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
