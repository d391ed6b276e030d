"""Build ``classifiers/data/phone_corpus.jsonl``: the retired phone-style evaluation sets
as a supplementary training corpus of short requests (issue 13).

    .venv/bin/python benchmarks/classifiers/build_phone_corpus.py [--check]

Every set below was written by hand as short spoken 12345 requests with a TipDM
first-level label, and every one has had its figures reported, so none is blind any
more. Each output row is ``{"id", "text", "label", "source", "writer"}``: ``source`` is
the file the row came from (path from the project root), ``writer`` the group of sets
one author wrote (the unit of the leave-one-writer-out benchmark, bench_corpus.py).
Rows whose normalised text already occurred are dropped (the first one is kept).
A blind set still in use must never be added here.

``--check`` rebuilds in memory and fails when the shipped file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from common import ROOT

from classifiers.text import normalize

OUT = ROOT / "classifiers" / "data" / "phone_corpus.jsonl"

# (writer, path): in the order the sets were written.
SOURCES: tuple[tuple[str, str], ...] = (
    ("project_round1", "classifiers/data/phone_style.jsonl"),
    ("project_round1", "classifiers/data/phone_dev.jsonl"),
    ("project_round1", "classifiers/data/phone_holdout.jsonl"),
    ("project_dev", "benchmarks/classifiers/dev/category_dev.jsonl"),
    ("project_dev", "benchmarks/classifiers/dev/category_dev2.jsonl"),
    ("blind", "benchmarks/blind/category_blind.jsonl"),
    ("blind2", "benchmarks/blind2/category.jsonl"),
    ("blind3", "benchmarks/blind3/category.jsonl"),
)


def build() -> tuple[list[dict], Counter]:
    rows: list[dict] = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    for writer, path in SOURCES:
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = normalize(row["text"])
            if key in seen:
                dropped[path] += 1
                continue
            seen.add(key)
            rows.append(
                {
                    "id": f"{writer}:{row['id']}",
                    "text": row["text"],
                    "label": row["label"],
                    "source": path,
                    "writer": writer,
                }
            )
    return rows, dropped


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = parser.parse_args()
    rows, dropped = build()
    text = render(rows)
    if args.check:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs from its sources")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    by_source = Counter(row["source"] for row in rows)
    for _, path in SOURCES:
        print(
            f"{by_source[path]:5d}  {path}"
            + (f"  ({dropped[path]} repeated texts dropped)" if dropped[path] else "")
        )
    print(f"{len(rows):5d}  -> {OUT.relative_to(ROOT)}")
    print("labels:", dict(sorted(Counter(row["label"] for row in rows).items())))


if __name__ == "__main__":
    main()
