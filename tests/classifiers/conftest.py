"""Fixtures for classifier tests: data locations and a small CLI-trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clf_helpers import OWN_DATA, TIPDM_DIR, run_cli


@pytest.fixture(scope="session")
def tipdm_dir() -> Path:
    if not (TIPDM_DIR / "train.jsonl").is_file():
        message = f"TipDM data not available in {TIPDM_DIR}"
        if os.environ.get("HOTLINE_REQUIRE_DATA") == "1":  # scripts/test.sh: a failure
            pytest.fail(message)
        pytest.skip(message)
    return TIPDM_DIR


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A model trained through the CLI on the project's own phone-style set (no TipDM)."""
    out = tmp_path_factory.mktemp("models") / "phone"
    result = run_cli(
        "train", "--data", str(OWN_DATA / "phone_style.jsonl"), "--out", str(out), "--cv-folds", "2"
    )
    assert result.returncode == 0, result.stderr
    return out
