"""Urgency detection: recall, precision, type accuracy and speed on a labelled set.

    .venv/bin/python benchmarks/classifiers/bench_urgency.py [--errors]
    .venv/bin/python benchmarks/classifiers/bench_urgency.py \
        --file classifiers/data/urgency_holdout.jsonl --errors
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
    args = parser.parse_args()
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
