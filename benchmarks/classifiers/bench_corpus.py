"""The supplementary corpus of short requests (classifiers/data/phone_corpus.jsonl),
measured leave-one-writer-out (issue 13).

    .venv/bin/python benchmarks/classifiers/bench_corpus.py [--powers 0,0.5] none w:1 w:0.5 ...

For every writer of the corpus (``writer`` field: the project's round-one sets, the
project's dev sets, blind, blind2, blind3, blind4, train_cu) a model is trained as the CLI trains it
(labelled.jsonl + catalogue keywords + self-training on unlabelled.jsonl) plus the
corpus rows of all *other* writers, and scored on the held-out writer's rows (per
source file, per writer and pooled). The TipDM fixed split is trained on train.jsonl
plus the whole corpus and scored on test.jsonl. 智能派单: coverage / precision of the
top-1 at or above each confidence on the held-out rows.

Variants: ``none`` (no corpus: the model before this change, scored on every writer at
once); ``w:W`` corpus rows at weight W; ``w:W:cw=none`` the same with the SVM's class
weights off; ``w:W:c=C`` with SVM C; ``w:W:words=N`` jieba word n-grams up to N in the
short-request pipeline, ``ws=S`` their block's weight. Each model is also scored at
every short-request prior power of ``--powers``. ``--json FILE`` writes everything;
``--errors FILE`` the held-out rows a variant got wrong.

The long-letter pipeline and its self-training pseudo-labels do not depend on the
corpus: they are fitted once per variant and only the short-request pipeline is
refitted per held-out writer (the same steps as ``classifiers.train``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import asdict, replace

from common import DATA_DIR, require_data

from classifiers import read_records, train
from classifiers.model import ModelSettings, TextClassifier
from classifiers.training import (
    add_supplement,
    build_lexicon,
    class_prior,
    fit_pipeline,
    load_phone_corpus,
    pseudo_labelled,
    self_trained_set,
    training_set,
)

GRID = (0.8, 0.9, 0.93, 0.95, 0.97)


def with_power(model: TextClassifier, power: float) -> TextClassifier:
    settings = {**model.metadata["settings"], "short_prior_power": power}
    return replace(model, metadata={**model.metadata, "settings": settings})


def parse_variant(spec: str) -> tuple[ModelSettings, bool]:
    """(settings, use the corpus) of a variant spec."""
    settings = ModelSettings()
    if spec == "none":
        return settings, False
    parts = spec.split(":")
    if parts[0] != "w":
        raise SystemExit(f"unknown variant {spec}")
    settings = replace(settings, supplement_weight=float(parts[1]))
    for part in parts[2:]:
        key, value = part.split("=")
        if key == "cw":
            settings = replace(settings, class_weight=None if value == "none" else value)
        elif key == "c":
            settings = replace(settings, svm_c=float(value))
        elif key == "words":
            settings = replace(settings, short_word_ngrams=int(value))
        elif key == "ws":
            settings = replace(settings, short_word_scale=float(value))
        else:
            raise SystemExit(f"unknown option {part}")
    return settings, True


def scored(model: TextClassifier, rows, errors: list | None = None):
    """(writer, source, top-1 probability, hit) per row; wrong rows appended to
    ``errors`` as {writer, id, label, predicted, p, text}."""
    tops = model.predict_many([(r.text, None) for r in rows], k=1)
    out = []
    for r, top in zip(rows, tops, strict=True):
        hit = top[0][0] == r.value("label")
        out.append((r.raw["writer"], r.raw["source"], top[0][1], hit))
        if errors is not None and not hit:
            errors.append(
                {"writer": r.raw["writer"], "id": r.id, "label": r.value("label"),
                 "predicted": top[0][0], "p": top[0][1], "text": r.text}
            )  # fmt: skip
    return out


def summary(rows: list[tuple[str, str, float, bool]]) -> dict:
    by_writer, by_source = defaultdict(list), defaultdict(list)
    for writer, source, p, hit in rows:
        by_writer[writer].append((p, hit))
        by_source[source].append((p, hit))

    def acc(items):
        return round(sum(hit for _, hit in items) / len(items), 4)

    def dispatch(items):
        table = {}
        for t in GRID:
            kept = [hit for p, hit in items if p >= t]
            table[str(t)] = {
                "coverage": round(len(kept) / len(items), 3),
                "precision": round(sum(kept) / len(kept), 3) if kept else None,
                "wrong": len(kept) - sum(kept),
            }
        return table

    pooled = [(p, hit) for _, _, p, hit in rows]
    return {
        "pooled": acc(pooled),
        "n": len(pooled),
        "writers": {w: acc(v) for w, v in by_writer.items()},
        "sources": {s: acc(v) for s, v in by_source.items()},
        "dispatch_pooled": dispatch(pooled),
        "dispatch_writers": {w: dispatch(v) for w, v in by_writer.items()},
    }


def held_out_scores(settings, use_corpus, corpus, labelled, unlabelled, label=""):
    """(model, held-out rows) per writer: every corpus row is scored by a model trained
    on labelled + unlabelled (self-training) + the corpus rows of the other writers;
    with ``use_corpus`` False one model without any corpus scores them all."""
    taxonomy = DATA_DIR / "taxonomy.jsonl"
    if not use_corpus:
        model = train(
            labelled, taxonomy=taxonomy, cv_folds=0, unlabelled=unlabelled, settings=settings
        )
        return [(model, corpus)]
    # what train() does before the corpus comes in: fitted once
    lexicon = build_lexicon(taxonomy)
    first = fit_pipeline(training_set(labelled, "label", settings), lexicon, settings)
    pseudo = pseudo_labelled(
        TextClassifier(pipeline=first), unlabelled, "label", settings.self_training_threshold
    )

    def base():
        data = training_set(labelled, "label", settings)
        return self_trained_set(data, pseudo, "label", settings)

    long_pipeline = fit_pipeline(base(), lexicon, settings)
    labels = [str(label) for label in long_pipeline.classes_]
    models = []
    for writer in sorted({r.raw["writer"] for r in corpus}):
        t0 = time.monotonic()
        data = add_supplement(base(), [r for r in corpus if r.raw["writer"] != writer], settings)
        model = TextClassifier(
            pipeline=long_pipeline,
            short_pipeline=fit_pipeline(data, lexicon, settings, short=True),
            metadata={"settings": asdict(settings), "short_class_prior": class_prior(data, labels)},
        )
        models.append((model, [r for r in corpus if r.raw["writer"] == writer]))
        print(f"  {label} held out {writer}: {time.monotonic() - t0:.0f}s", flush=True)
    return models


def split_model(settings, use_corpus, corpus, train_rows, unlabelled) -> TextClassifier:
    """Trained on train.jsonl (+ the whole corpus) as the CLI trains."""
    return train(
        train_rows,
        taxonomy=DATA_DIR / "taxonomy.jsonl",
        cv_folds=0,
        unlabelled=unlabelled,
        supplement=corpus if use_corpus else [],
        settings=settings,
    )


def run_variant(spec: str, powers: list[float], corpus, labelled, train_rows, test, unlabelled):
    settings, use_corpus = parse_variant(spec)
    models = held_out_scores(settings, use_corpus, corpus, labelled, unlabelled, spec)
    split = split_model(settings, use_corpus, corpus, train_rows, unlabelled)
    result = {}
    for p in powers:
        errors: list[dict] = []
        held = [row for model, rows in models for row in scored(with_power(model, p), rows, errors)]
        m = with_power(split, p)
        tops = m.predict_many([(r.text, r.title) for r in test], k=1)
        hits = sum(t[0][0] == r.value("label") for t, r in zip(tops, test, strict=True))
        result[str(p)] = {
            **summary(held),
            "recall_by_label": label_recall(corpus, errors),
            "tipdm_test": round(hits / len(test), 4),
            "errors": errors,
        }
    return result


def label_recall(corpus, errors: list[dict]) -> dict:
    """Held-out recall per label, pooled and per writer."""
    wrong = {(e["writer"], e["id"]) for e in errors}
    tally: dict = defaultdict(lambda: [0, 0])
    for r in corpus:
        hit = (r.raw["writer"], r.id) not in wrong
        for key in ("pooled", r.raw["writer"]):
            tally[(key, r.value("label"))][0] += hit
            tally[(key, r.value("label"))][1] += 1
    out: dict = defaultdict(dict)
    for (key, label), (hits, n) in sorted(tally.items()):
        out[key][label] = round(hits / n, 3)
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*", default=["none", "w:1"])
    parser.add_argument("--powers", default="0.5")
    parser.add_argument("--json", help="write all figures to this file")
    args = parser.parse_args()
    data = require_data()
    powers = [float(p) for p in args.powers.split(",")]
    corpus = load_phone_corpus()
    labelled = read_records(data / "labelled.jsonl")
    train_rows = read_records(data / "train.jsonl")
    test = read_records(data / "test.jsonl")
    unlabelled = read_records(data / "unlabelled.jsonl")
    results = {}
    for spec in args.variants:
        results[spec] = run_variant(spec, powers, corpus, labelled, train_rows, test, unlabelled)
        for p, r in results[spec].items():
            writers = "  ".join(f"{w} {a:.3f}" for w, a in sorted(r["writers"].items()))
            d = r["dispatch_pooled"]["0.97"]
            print(
                f"{spec:14s} power {p}: pooled {r['pooled']:.3f} (n={r['n']})  {writers}  "
                f"TipDM test {r['tipdm_test']:.3f}  "
                f"dispatch@0.97 {d['coverage']:.2f}/{d['precision']} ({d['wrong']} wrong)",
                flush=True,
            )
            print("  recall by label (pooled):", r["recall_by_label"]["pooled"], flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
