"""Shared helpers for the classifier benchmarks (data location, variant training)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# ../shared from the main checkout, ../../shared from a worktree (/work/wt/<name>).
_CANDIDATES = [p / "shared" / "data" / "tipdm2020" for p in (ROOT.parent, ROOT.parent.parent)]
DATA_DIR = Path(
    os.environ.get("TIPDM_DIR") or next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
)
OWN_DATA = ROOT / "classifiers" / "data"


def require_data() -> Path:
    if not (DATA_DIR / "train.jsonl").is_file():
        sys.exit(f"TipDM data not found in {DATA_DIR} (set TIPDM_DIR)")
    return DATA_DIR
