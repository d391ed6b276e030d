"""Figures on the blind sets written by someone who never saw the code, measured the way
outside evaluators measure: through the command line (DESIGN.md §5).

    .venv/bin/python benchmarks/classifiers/bench_blind.py \
        [--category benchmarks/blind/category_blind.jsonl] \
        [--urgency benchmarks/blind/urgency_blind.jsonl] [--train TIPDM/labelled.jsonl] \
        [--kinds benchmarks/blind2/urgency_kinds.json]

1. ``python -m classifiers train --data <train> --out DIR`` (all 495 TipDM rows);
2. ``python -m classifiers evaluate --model DIR --data <category> --json``;
3. ``python -m classifiers predict --model DIR --data <urgency>``: recall and precision
   of the ``urgent`` flag against the set's ``urgent`` field, false alarms per kind;
   the same predictions on the category set give 智能派单's coverage / precision;
4. in-process prediction latency (p50/p95) over the category set's texts.

Run it once, at the end: these sets are for reporting, never for tuning.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DATA_DIR, ROOT

BLIND_DIR = ROOT / "benchmarks" / "blind"


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "classifiers", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def predictions(model_dir: Path, path: Path) -> dict[str, dict]:
    out = cli("predict", "--model", str(model_dir), "--data", str(path))
    return {str(row["id"]): row for row in map(json.loads, out.splitlines())}


def urgency_figures(model_dir: Path, path: Path, kinds: dict[str, str]) -> dict:
    rows = read_rows(path)
    want = {str(row["id"]): bool(row["urgent"]) for row in rows}
    kind = {str(row["id"]): kinds.get(str(row["id"])) or row.get("kind") for row in rows}
    got = {i: bool(row["urgent"]) for i, row in predictions(model_dir, path).items()}
    tp = sum(want[i] and got[i] for i in want)
    fp = sum(got[i] and not want[i] for i in want)
    fn = sum(want[i] and not got[i] for i in want)
    false_alarms_by_kind: dict[str, int] = {}
    for i in want:
        if got[i] and not want[i]:
            false_alarms_by_kind[str(kind[i])] = false_alarms_by_kind.get(str(kind[i]), 0) + 1
    return {
        "n": len(want),
        "urgent": tp + fn,
        "flagged": tp + fp,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "false_alarms": fp,
        "false_alarms_by_kind": false_alarms_by_kind,
        "missed": fn,
    }


def dispatch_figures(model_dir: Path, path: Path) -> dict:
    """智能派单 on the blind set: coverage / precision of the top-1 at or above a confidence."""
    want = {str(row["id"]): row["label"] for row in read_rows(path)}
    got = predictions(model_dir, path)
    table = {}
    for threshold in (0.8, 0.9, 0.95, 0.97):
        kept = [got[i]["top"][0][0] == want[i] for i in want if got[i]["top"][0][1] >= threshold]
        table[str(threshold)] = {
            "coverage": round(len(kept) / len(want), 3),
            "precision": round(sum(kept) / len(kept), 3) if kept else None,
            "wrong": len(kept) - sum(kept),
        }
    return table


def latency(model_dir: Path, path: Path, passes: int = 5) -> dict:
    """Per-request latency in-process, measured as bench_accuracy measures it."""
    from bench_accuracy import latency as model_latency

    from classifiers import load_model, read_records

    return model_latency(load_model(model_dir), read_records(path), passes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--category", type=Path, default=BLIND_DIR / "category_blind.jsonl")
    parser.add_argument("--urgency", type=Path, default=BLIND_DIR / "urgency_blind.jsonl")
    parser.add_argument("--train", type=Path, default=DATA_DIR / "labelled.jsonl")
    parser.add_argument(
        "--kinds", type=Path, help="JSON {id: urgent|near_miss|ordinary} (else the rows' kind)"
    )
    args = parser.parse_args()
    kinds = json.loads(args.kinds.read_text(encoding="utf-8")) if args.kinds else {}
    report: dict = {"train": str(args.train)}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "category"
        cli("train", "--data", str(args.train), "--out", str(model_dir), "--cv-folds", "0")
        if args.category.is_file():
            result = json.loads(
                cli("evaluate", "--model", str(model_dir), "--data", str(args.category), "--json")
            )
            report["category"] = {
                "n": result["n"],
                "accuracy": result["accuracy"],
                "macro_f1": result["macro_f1"],
                "recall_per_label": {k: v["recall"] for k, v in result["per_label"].items()},
            }
            report["auto_dispatch"] = dispatch_figures(model_dir, args.category)
            report["latency"] = latency(model_dir, args.category)
        if args.urgency.is_file():
            report["urgency"] = urgency_figures(model_dir, args.urgency, kinds)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
