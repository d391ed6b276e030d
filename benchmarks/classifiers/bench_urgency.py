"""Urgency detection: recall, precision, type accuracy and speed on a labelled set.

    .venv/bin/python benchmarks/classifiers/bench_urgency.py [--errors]
    .venv/bin/python benchmarks/classifiers/bench_urgency.py \
        --file classifiers/data/urgency_holdout.jsonl --errors
    .venv/bin/python benchmarks/classifiers/bench_urgency.py --loso [--thresholds 0.3,0.4]

``--loso``: leave one writer of ``data/urgency_corpus.jsonl`` out (the project's dev
sets, blind, blind2, blind3, blind4, train_cu): the learned part is fitted on the
round-one training files plus the corpus rows of the other writers and
``detect_urgency`` (rules + learned part) is scored on the held-out writer's rows;
"before" = the learned part without the corpus.
The learned part's other examples (round-one files, the ordinary short requests of
phone_corpus.jsonl as negatives) are always in; the held-out writer's phone_corpus rows
are left out too. The rules were written with the project's dev sets in view (their
figures are fitted).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import OWN_DATA

from classifiers import detect_urgency


def learned_part_cv() -> None:
    """How LEARNED_THRESHOLD was chosen: 5-fold CV of the learned part on its training
    files, alone and behind the evidence gate (danger cue, no hazard/admin context)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from classifiers import urgency
    from classifiers.text import normalize

    rows = [
        json.loads(line)
        for name in urgency.TRAINING_FILES
        for line in (OWN_DATA / name).read_text().splitlines()
    ]
    texts = [normalize(r["text"]) for r in rows]
    y = np.array([bool(r["urgent"]) for r in rows])
    proba = np.zeros(len(rows))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, y):
        model = urgency._LearnedUrgency([texts[i] for i in tr], list(y[tr]))
        proba[te] = [model.probability(texts[i]) for i in te]
    gate = np.array([urgency._evidence_gate(t) is not None for t in texts])
    for threshold in (0.3, 0.35, 0.4, 0.5, 0.6):
        for name, passed in (("alone", np.ones_like(gate)), ("gated", gate)):
            hit = (proba >= threshold) & passed
            print(
                f"threshold {threshold} {name}: recall {(hit & y).sum() / y.sum():.3f} "
                f"precision {(hit & y).sum() / max(hit.sum(), 1):.3f}"
            )


def _scores(rows: list[dict]) -> dict:
    flags = [(bool(r["urgent"]), detect_urgency(r["text"]).urgent) for r in rows]
    tp = sum(w and g for w, g in flags)
    fn = sum(w and not g for w, g in flags)
    fp = sum(g and not w for w, g in flags)
    return {
        "n": len(rows),
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
    }


def _line(name: str, s: dict) -> str:
    return (
        f"{name:22s} recall {s['recall']} precision {s['precision']}"
        f" ({s['fn']} missed, {s['fp']} false alarms, n={s['n']})"
    )


def leave_one_writer_out(thresholds: list[float], strong: list[float]) -> None:
    """Held-out figures of the urgency detector with the corpus in the learned part."""
    from classifiers import urgency
    from classifiers.text import normalize

    def rows_of(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    base = [r for name in urgency.BASE_TRAINING_FILES for r in rows_of(OWN_DATA / name)]
    corpus = rows_of(OWN_DATA / urgency.CORPUS_FILE)
    ordinary = [
        {**r, "urgent": False} for name in urgency.ORDINARY_FILES for r in rows_of(OWN_DATA / name)
    ]
    writers = sorted({r["writer"] for r in corpus})
    held = {
        name: rows_of(OWN_DATA / name)
        for name in ("urgency_fresh.jsonl", "urgency_nearmiss_test.jsonl")
    }
    original = urgency._learned_model, urgency.LEARNED_THRESHOLD, urgency.LEARNED_STRONG_THRESHOLD

    def fitted(rows):
        model = urgency._LearnedUrgency(
            [normalize(r["text"]) for r in rows], [bool(r["urgent"]) for r in rows]
        )
        return lambda: model

    try:
        for threshold, strong_threshold in ((t, s) for t in thresholds for s in strong):
            urgency.LEARNED_THRESHOLD = threshold
            urgency.LEARNED_STRONG_THRESHOLD = strong_threshold
            print(f"-- learned threshold {threshold}, without a danger cue {strong_threshold}")
            urgency._learned_model = fitted(base)
            before = {w: _scores([r for r in corpus if r["writer"] == w]) for w in writers}
            for w in writers:
                print(_line(f"before {w}", before[w]))
            print(_line("before pooled", _scores(corpus)))
            outs = []
            for w in writers:
                others = [r for r in corpus + ordinary if r["writer"] != w]
                urgency._learned_model = fitted(base + others)
                out = [r for r in corpus if r["writer"] == w]
                print(_line(f"LOWO {w}", _scores(out)))
                outs.append((out, _scores(out)))
            tp = sum(s["tp"] for _, s in outs)
            fn = sum(s["fn"] for _, s in outs)
            fp = sum(s["fp"] for _, s in outs)
            print(
                f"{'LOWO pooled':22s} recall {tp / (tp + fn):.3f} precision"
                f" {tp / (tp + fp):.3f} ({fn} missed, {fp} false alarms)"
            )
            urgency._learned_model = fitted(base + corpus + ordinary)
            for name, rows in held.items():
                print(_line(f"all {name.split('.')[0]}", _scores(rows)))
            flagged = other = 0
            for w in sorted({r["writer"] for r in ordinary}):  # false alarms, writer held out
                urgency._learned_model = fitted(
                    base + [r for r in corpus + ordinary if r["writer"] != w]
                )
                results = [detect_urgency(r["text"]) for r in ordinary if r["writer"] == w]
                flagged += sum(u.urgent for u in results)
                other += sum(u.urgent and u.type == "other" for u in results)
            print(
                f"ordinary short requests flagged (phone corpus, writer held out): {flagged}"
                f" of {len(ordinary)}, {other} of them by the learned part without a cue"
            )
    finally:
        (
            urgency._learned_model,
            urgency.LEARNED_THRESHOLD,
            urgency.LEARNED_STRONG_THRESHOLD,
        ) = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true", help="list misclassified lines")
    parser.add_argument(
        "--file",
        default=str(OWN_DATA / "urgency.jsonl"),
        help="test set (urgency.jsonl: rules written with it in view; "
        "urgency_holdout.jsonl: written after the rules were frozen)",
    )
    parser.add_argument("--cv", action="store_true", help="5-fold CV of the learned part")
    parser.add_argument("--loso", action="store_true", help="leave one corpus writer out")
    parser.add_argument("--thresholds", default="0.4", help="learned thresholds for --loso")
    parser.add_argument("--strong", default="0.8", help="thresholds without a danger cue")
    args = parser.parse_args()
    if args.loso:
        leave_one_writer_out(
            [float(t) for t in args.thresholds.split(",")],
            [float(t) for t in args.strong.split(",")],
        )
        return
    if args.cv:
        learned_part_cv()
        return
    lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    tp = fp = fn = tn = type_ok = 0
    errors, times = [], []
    for row in rows:
        row.setdefault("type", row.get("urgent_type"))  # the dev and blind sets' name
        t0 = time.perf_counter()
        result = detect_urgency(row["text"])
        times.append((time.perf_counter() - t0) * 1000)
        if row["urgent"] and result.urgent:
            tp += 1
            type_ok += result.type == row["type"]
            if result.type != row["type"]:
                errors.append(("type", row, result))
        elif row["urgent"]:
            fn += 1
            errors.append(("missed", row, result))
        elif result.urgent:
            fp += 1
            errors.append(("false alarm", row, result))
        else:
            tn += 1
    times.sort()
    report = {
        "n": len(rows),
        "urgent": tp + fn,
        "ordinary": fp + tn,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "false_positive_rate": round(fp / (fp + tn), 4) if fp + tn else None,
        "type_accuracy_on_detected": round(type_ok / tp, 4) if tp else None,
        "latency_p95_ms": round(times[int(0.95 * len(times)) - 1], 3),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.errors:
        for kind, row, result in errors:
            print(
                f"{kind:12s} {row['id']} want={row['type']} got={result.type}"
                f" matched={result.matched} | {row['text']}"
            )


if __name__ == "__main__":
    main()
