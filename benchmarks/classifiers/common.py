"""Shared helpers for the classifier benchmarks (data location, variant training)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATA_DIR = Path(os.environ.get("TIPDM_DIR", ROOT.parent / "shared" / "data" / "tipdm2020"))
OWN_DATA = ROOT / "classifiers" / "data"


def require_data() -> Path:
    if not (DATA_DIR / "train.jsonl").is_file():
        sys.exit(f"TipDM data not found in {DATA_DIR} (set TIPDM_DIR)")
    return DATA_DIR
