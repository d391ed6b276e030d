"""Accuracy floors on the TipDM 2020 data (skipped when ../shared/data is absent).

Measured (benchmarks/classifiers/RESULTS.md): test accuracy 0.889, macro-F1 0.891,
phone-style accuracy 0.871; the floors sit a little below.
"""

from __future__ import annotations

import pytest
from clf_helpers import OWN_DATA

from classifiers import evaluate, load_model, read_records, train


@pytest.fixture(scope="module")
def tipdm_model(tipdm_dir, tmp_path_factory):
    model = train(
        read_records(tipdm_dir / "train.jsonl"), taxonomy=tipdm_dir / "taxonomy.jsonl", cv_folds=0
    )
    out = tmp_path_factory.mktemp("tipdm") / "category"
    model.save(out)
    return out


def test_fixed_split_accuracy_floor(tipdm_model, tipdm_dir):
    report = evaluate(load_model(tipdm_model), read_records(tipdm_dir / "test.jsonl"), "label")
    assert report["n"] == 99
    assert report["accuracy"] >= 0.86
    assert report["macro_f1"] >= 0.85


def test_phone_style_accuracy_floor(tipdm_model):
    report = evaluate(
        load_model(tipdm_model), read_records(OWN_DATA / "phone_style.jsonl"), "label"
    )
    assert report["accuracy"] >= 0.83
