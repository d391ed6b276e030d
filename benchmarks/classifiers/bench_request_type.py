"""Request type accuracy on classifiers/data/request_type.jsonl (60 rows, 10 per type).

    .venv/bin/python benchmarks/classifiers/bench_request_type.py [--errors]

The set was written after the cue lists; first-run and after-fix figures in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from common import OWN_DATA

from classifiers import REQUEST_TYPES, classify_request_type


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (OWN_DATA / "request_type.jsonl").read_text().splitlines()]
    got = [classify_request_type(r["text"]) for r in rows]
    hits = Counter(r["type"] for r, g in zip(rows, got, strict=True) if g == r["type"])
    totals = Counter(r["type"] for r in rows)
    report = {
        "n": len(rows),
        "accuracy": round(sum(hits.values()) / len(rows), 3),
        "recall_per_type": {t: round(hits[t] / totals[t], 2) for t in REQUEST_TYPES},
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.errors:
        for r, g in zip(rows, got, strict=True):
            if g != r["type"]:
                print(f"want={r['type']:12s} got={g:12s} {r['text']}")


if __name__ == "__main__":
    main()
