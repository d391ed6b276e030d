"""The pull towards 城乡建设 (issue 13): calibrator class weights, self-training on the
4,326 unlabelled TipDM messages and the short-request prior correction, scored on the
phone-style sets and the TipDM split.

    .venv/bin/python benchmarks/classifiers/bench_prior.py [--powers 0,0.5,1] base st:0.7:0.3 ...

Variants: ``base`` (defaults); ``calib`` (the stacked calibrator fitted with balanced
class weights: a uniform prior); ``st:T:W`` self-training (the model labels the
unlabelled messages, those with top-1 probability >= T join the training data with
weight W, the model is refitted); ``cst:T:W`` both. Each fitted model is scored with
the training prior divided out of short requests at every power of ``--powers``
(ModelSettings.short_prior_power; 0 = off). Per set and power: (accuracy, errors that
went to 城乡建设). Phone sets: trained on labelled.jsonl; TipDM test: on train.jsonl.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace

from common import DATA_DIR, OWN_DATA, ROOT, require_data

from classifiers import evaluate, read_records
from classifiers.dataset import Record
from classifiers.model import ModelSettings, TextClassifier
from classifiers.training import build_lexicon, class_prior, fit_pipeline, training_set

URBAN = "城乡建设"
PHONE_SETS = {
    "category_dev": ROOT / "benchmarks" / "classifiers" / "dev" / "category_dev.jsonl",
    "category_dev2": ROOT / "benchmarks" / "classifiers" / "dev" / "category_dev2.jsonl",
    "phone_holdout": OWN_DATA / "phone_holdout.jsonl",
    "phone_style": OWN_DATA / "phone_style.jsonl",
    "phone_dev": OWN_DATA / "phone_dev.jsonl",
}


def fit(records, lexicon, settings, pseudo=(), pseudo_weight=0.3) -> TextClassifier:
    data = training_set(records, "label", settings)
    if pseudo:
        extra = training_set(pseudo, "label", settings)
        offset = max(data.groups) + 1
        for doc, label, weight, group in zip(
            extra.docs, extra.labels, extra.weights, extra.groups, strict=True
        ):
            data.add(doc, label, weight * pseudo_weight, group + offset, gold=False)
    pipeline = fit_pipeline(data, lexicon, settings)
    labels = [str(label) for label in pipeline.classes_]
    metadata = {"class_prior": class_prior(data, labels), "settings": asdict(settings)}
    return TextClassifier(pipeline=pipeline, metadata=metadata)


def with_power(model: TextClassifier, power: float) -> TextClassifier:
    settings = {**model.metadata["settings"], "short_prior_power": power}
    return TextClassifier(model.pipeline, {**model.metadata, "settings": settings})


def pseudo_labelled(model: TextClassifier, unlabelled, threshold: float) -> list[Record]:
    tops = model.predict_many([(r.text, r.title) for r in unlabelled], k=1)
    return [
        Record(r.id, r.text, r.title, {**r.raw, "label": top[0][0]}, r.line)
        for r, top in zip(unlabelled, tops, strict=True)
        if top and top[0][1] >= threshold
    ]


def run(name, settings, self_training, data, lexicon, powers) -> None:
    start = time.time()
    report: dict = {}
    phone = {k: read_records(v) for k, v in PHONE_SETS.items()}
    tipdm = {"tipdm_test": read_records(data / "test.jsonl")}
    unlabelled = read_records(data / "unlabelled.jsonl") if self_training else []
    for train_file, sets in (("labelled.jsonl", phone), ("train.jsonl", tipdm)):
        records = read_records(data / train_file)
        fitted = fit(records, lexicon, settings)
        if self_training:
            threshold, weight = self_training
            pseudo = pseudo_labelled(with_power(fitted, 0.0), unlabelled, threshold)
            report.setdefault("n_pseudo", len(pseudo))
            fitted = fit(records, lexicon, settings, pseudo, weight)
        for power in powers:
            model = with_power(fitted, power)
            for set_name, rows in sets.items():
                tops = model.predict_many([(r.text, r.title) for r in rows], k=1)
                to_urban = sum(
                    t[0][0] == URBAN != r.value("label") for t, r in zip(tops, rows, strict=True)
                )
                accuracy = evaluate(model, rows, "label")["accuracy"]
                report.setdefault(set_name, {})[power] = [accuracy, to_urban]
    print(name, json.dumps(report, ensure_ascii=False), f"{time.time() - start:.0f} s")


def main() -> None:
    data = require_data()
    lexicon = build_lexicon(DATA_DIR / "taxonomy.jsonl")
    base = ModelSettings()
    args = sys.argv[1:]
    powers = [base.short_prior_power]
    if "--powers" in args:
        at = args.index("--powers")
        powers = [float(p) for p in args[at + 1].split(",")]
        del args[at : at + 2]
    for arg in args or ["base"]:
        kind, *params = arg.split(":")
        settings = (
            replace(base, calibration_class_weight="balanced") if kind in ("calib", "cst") else base
        )
        self_training = (float(params[0]), float(params[1])) if params else None
        run(arg, settings, self_training, data, lexicon, powers)


if __name__ == "__main__":
    main()
