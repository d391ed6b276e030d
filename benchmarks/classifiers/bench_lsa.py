"""Tried for issue 13 and not adopted: an LSA representation (truncated SVD over char
1-2-gram TF-IDF of the training documents, self-training's unlabelled messages
included; ``lsa_variant.py``) appended to the features.

    .venv/bin/python benchmarks/classifiers/bench_lsa.py base lsa:150:0.5

Each variant is trained as the CLI trains (labelled.jsonl + one round of
self-training on unlabelled.jsonl; TipDM test: train.jsonl) and scored on the phone
sets and the TipDM test split with the short-request prior correction at powers 0,
0.5 and 1 (here the prior of the 495 labelled messages), plus prediction p95 in ms.
~4-17 min per variant on the shared machine.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from common import DATA_DIR, OWN_DATA, ROOT
from lsa_variant import LsaFeatures

import classifiers.training as training
from classifiers import read_records
from classifiers.model import ModelSettings, TextClassifier, build_pipeline
from classifiers.text import build_document

SETS = {
    "category_dev": ROOT / "benchmarks/classifiers/dev/category_dev.jsonl",
    "category_dev2": ROOT / "benchmarks/classifiers/dev/category_dev2.jsonl",
    "phone_holdout": OWN_DATA / "phone_holdout.jsonl",
    "phone_dev": OWN_DATA / "phone_dev.jsonl",
    "phone_style": OWN_DATA / "phone_style.jsonl",
}
POWERS = (0.0, 0.5, 1.0)


def builder(lsa: dict | None):
    def build(labels, lexicon, settings, short=False):
        pipeline = build_pipeline(labels, lexicon, settings, short=short)
        if lsa:
            pipeline.steps[0][1].transformer_list.append(("lsa", LsaFeatures(**lsa)))
        return pipeline

    return build


def fit(records, settings, lsa, lexicon, unlabelled) -> TextClassifier:
    training.build_pipeline = builder(lsa)
    data = training.training_set(records, "label", settings)
    pipe = training.fit_pipeline(data, lexicon, settings)
    pseudo = training.pseudo_labelled(
        TextClassifier(pipeline=pipe), unlabelled, "label", settings.self_training_threshold
    )
    data = training.self_trained_set(
        training.training_set(records, "label", settings), pseudo, "label", settings
    )
    return TextClassifier(pipeline=training.fit_pipeline(data, lexicon, settings))


def score(model: TextClassifier, rows, prior: np.ndarray) -> dict:
    docs = [build_document(r.text, r.title) for r in rows]
    log_p = np.log(model.predict_proba_docs(docs) + 1e-12)
    labels = np.asarray(model.labels)
    y = np.asarray([r.value("label") for r in rows])
    short = np.asarray([len(d) <= ModelSettings().short_chars for d in docs])
    out = {}
    for power in POWERS:
        z = log_p.copy()
        z[short] -= power * np.log(prior)
        out[power] = round(float((labels[z.argmax(1)] == y).mean()), 3)
    return out


def run(name: str, lsa: dict | None, lexicon, unlabelled) -> None:
    start = time.time()
    settings = ModelSettings()
    labelled = read_records(DATA_DIR / "labelled.jsonl")
    model = fit(labelled, settings, lsa, lexicon, unlabelled)
    ys = [r.value("label") for r in labelled]
    prior = np.asarray([ys.count(label) for label in model.labels], float) / len(ys)
    report = {k: score(model, read_records(v), prior) for k, v in SETS.items()}
    tipdm = fit(read_records(DATA_DIR / "train.jsonl"), settings, lsa, lexicon, unlabelled)
    report["tipdm_test"] = score(tipdm, read_records(DATA_DIR / "test.jsonl"), prior)
    times = []
    for r in read_records(SETS["category_dev2"]) * 3:
        t = time.perf_counter()
        model.predict(r.text)
        times.append(time.perf_counter() - t)
    report["p95_ms"] = round(float(np.percentile(times, 95)) * 1000, 2)
    print(name, json.dumps(report, ensure_ascii=False), f"{time.time() - start:.0f} s", flush=True)


def main() -> None:
    lexicon = training.build_lexicon(DATA_DIR / "taxonomy.jsonl")
    unlabelled = read_records(DATA_DIR / "unlabelled.jsonl")
    for arg in sys.argv[1:] or ["base", "lsa:150:0.5"]:
        if arg == "base":
            run(arg, None, lexicon, unlabelled)
        else:
            _, k, scale = arg.split(":")
            run(arg, {"k": int(k), "scale": float(scale)}, lexicon, unlabelled)


if __name__ == "__main__":
    main()
