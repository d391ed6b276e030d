"""Ablation of the classifier design: every row of the RESULTS.md variant table.

    .venv/bin/python benchmarks/classifiers/bench_variants.py [--only NAME ...]

For each variant: train on train.jsonl -> test.jsonl accuracy / macro-F1; 5-fold CV
(StratifiedKFold, seed 0) on labelled.jsonl; accuracy on the phone-style set.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace

from common import OWN_DATA, require_data

from classifiers import text as text_module
from classifiers.dataset import read_records
from classifiers.model import ModelSettings
from classifiers.training import build_lexicon, cross_validate, evaluate, train

BASE = ModelSettings(keyword_l2_scale=0.0, title_augment=False)  # pre-choice defaults
L2 = replace(BASE, keyword_scale=0.0, keyword_l2_scale=0.3)
BOTH = replace(BASE, keyword_l2_scale=0.3)
VARIANTS = {
    # name: (settings, use taxonomy, use hand keywords, dialect map)
    "char13 (baseline features, calibrated)": (BASE, False, False, True),
    "+ taxonomy keywords": (BASE, True, False, True),
    "+ taxonomy + hand keywords": (BASE, True, True, True),
    "kw l2-norm s0.1": (replace(L2, keyword_l2_scale=0.1), True, True, True),
    "kw l2-norm s0.3": (L2, True, True, True),
    "kw l2-norm s0.5": (replace(L2, keyword_l2_scale=0.5), True, True, True),
    "kw raw + l2 s0.3": (BOTH, True, True, True),
    "kw raw + l2 s0.2": (replace(BOTH, keyword_l2_scale=0.2), True, True, True),
    "raw kw + title augment": (replace(BASE, title_augment=True), True, True, True),
    "l2 kw + title augment": (replace(L2, title_augment=True), True, True, True),
    "raw + l2 kw + title augment (chosen, = defaults)": (ModelSettings(), True, True, True),
    "raw + l2 kw + title augment, no dialect map": (
        replace(BOTH, title_augment=True),
        True,
        True,
        False,
    ),
}


def run(name, settings, use_tax, use_kw, dialect, data_dir, phone):
    saved = text_module._DIALECT_RE
    if not dialect:
        text_module._DIALECT_RE = re.compile(r"(?!x)x")  # matches nothing
    try:
        t0 = time.monotonic()
        taxonomy = data_dir / "taxonomy.jsonl" if use_tax else None
        train_recs = read_records(data_dir / "train.jsonl")
        model = train(
            train_recs, taxonomy=taxonomy, use_keywords=use_kw, settings=settings, cv_folds=0
        )
        test = evaluate(model, read_records(data_dir / "test.jsonl"), "label")
        ph = evaluate(model, phone, "label")
        lexicon = build_lexicon(taxonomy, use_kw)
        cv = cross_validate(read_records(data_dir / "labelled.jsonl"), "label", lexicon, settings)
        print(
            f"| {name} | {test['accuracy']:.3f} | {test['macro_f1']:.3f} | "
            f"{cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f} | "
            f"{cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f} | {ph['accuracy']:.3f} | "
            f"{time.monotonic() - t0:.0f}s |",
            flush=True,
        )
    finally:
        text_module._DIALECT_RE = saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", help="variant names (substring match)")
    args = parser.parse_args()
    data_dir = require_data()
    phone = read_records(OWN_DATA / "phone_style.jsonl")
    print("| variant | test acc | test macro-F1 | CV acc | CV macro-F1 | phone acc | time |")
    print("|---|---|---|---|---|---|---|")
    for name, (settings, use_tax, use_kw, dialect) in VARIANTS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        run(name, settings, use_tax, use_kw, dialect, data_dir, phone)


if __name__ == "__main__":
    main()
