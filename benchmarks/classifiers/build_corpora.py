"""Build the training corpora made of retired evaluation sets (issue 13):

* ``classifiers/data/phone_corpus.jsonl`` — short spoken requests with a TipDM
  first-level label, ``{"id", "text", "label", "source", "writer"}``: the category
  model's supplementary corpus;
* ``classifiers/data/urgency_corpus.jsonl`` — urgent-now requests, near misses and
  ordinary requests, ``{"id", "text", "urgent", "type", "kind", "source", "writer"}``:
  more training rows for the learned part of the urgency detector.

    .venv/bin/python benchmarks/classifiers/build_corpora.py [--check]

Every set below was written by hand, and every one has had its figures reported, so
none is blind any more. ``source`` is the file a row came from (path from the project
root), ``writer`` the group of sets one author wrote (the unit of the leave-one-writer-
out benchmarks, bench_corpus.py and bench_urgency.py --loso). Rows whose normalised
text already occurred are dropped (the first one is kept). A blind set still in use
must never be added here.

``--check`` rebuilds in memory and fails when the shipped file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from common import ROOT

from classifiers.text import normalize

PHONE_OUT = ROOT / "classifiers" / "data" / "phone_corpus.jsonl"
URGENCY_OUT = ROOT / "classifiers" / "data" / "urgency_corpus.jsonl"

# (writer, path): in the order the sets were written.
PHONE_SOURCES: tuple[tuple[str, str], ...] = (
    ("project_round1", "classifiers/data/phone_style.jsonl"),
    ("project_round1", "classifiers/data/phone_dev.jsonl"),
    ("project_round1", "classifiers/data/phone_holdout.jsonl"),
    ("project_dev", "benchmarks/classifiers/dev/category_dev.jsonl"),
    ("project_dev", "benchmarks/classifiers/dev/category_dev2.jsonl"),
    ("blind", "benchmarks/blind/category_blind.jsonl"),
    ("blind2", "benchmarks/blind2/category.jsonl"),
    ("blind3", "benchmarks/blind3/category.jsonl"),
    ("blind4", "benchmarks/blind4/category.jsonl"),
    # a separate writer's hand-written training set (train_out_cu, 2026-12-07)
    ("train_cu", "benchmarks/classifiers/dev/category_dev3.jsonl"),
)
# urgency.jsonl, urgency_holdout, urgency_negatives and urgency_extra (classifiers/data)
# train the learned part already; urgency_fresh and urgency_nearmiss_test stay held out.
URGENCY_SOURCES: tuple[tuple[str, str], ...] = (
    *(("project_dev", f"benchmarks/classifiers/dev/urgency_dev{n}.jsonl") for n in ("", *"234567")),
    ("blind", "benchmarks/blind/urgency_blind.jsonl"),
    ("blind2", "benchmarks/blind2/urgency.jsonl"),
    ("blind3", "benchmarks/blind3/urgency.jsonl"),
    ("blind4", "benchmarks/blind4/urgency.jsonl"),
    ("train_cu", "benchmarks/classifiers/dev/urgency_dev8.jsonl"),
)


def _kinds(path: str) -> dict:
    """The sibling urgency_kinds.json (blind2, blind3, blind4: {id: urgent|near_miss|ordinary})."""
    kinds = ROOT / path.rsplit("/", 1)[0] / "urgency_kinds.json"
    return json.loads(kinds.read_text(encoding="utf-8")) if kinds.is_file() else {}


def _phone_row(writer: str, path: str, row: dict) -> dict:
    return {
        "id": f"{writer}:{row['id']}",
        "text": row["text"],
        "label": row["label"],
        "source": path,
        "writer": writer,
    }


def _urgency_row(writer: str, path: str, row: dict) -> dict:
    return {
        "id": f"{writer}:{row['id']}",
        "text": row["text"],
        "urgent": bool(row["urgent"]),
        "type": row.get("urgent_type"),
        "kind": row.get("kind") or _kinds(path).get(row["id"]),
        "source": path,
        "writer": writer,
    }


def build(sources, make_row) -> tuple[list[dict], Counter]:
    rows: list[dict] = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    for writer, path in sources:
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = normalize(row["text"])
            if key in seen:
                dropped[path] += 1
                continue
            seen.add(key)
            rows.append(make_row(writer, path, row))
    return rows, dropped


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="compare with the shipped files")
    args = parser.parse_args()
    stale = False
    for out, sources, make_row, field in (
        (PHONE_OUT, PHONE_SOURCES, _phone_row, "label"),
        (URGENCY_OUT, URGENCY_SOURCES, _urgency_row, "urgent"),
    ):
        rows, dropped = build(sources, make_row)
        text = render(rows)
        if args.check:
            same = out.is_file() and out.read_text(encoding="utf-8") == text
            print(f"{out.relative_to(ROOT)}: " + ("up to date" if same else "differs"))
            stale |= not same
            continue
        out.write_text(text, encoding="utf-8")
        by_source = Counter(row["source"] for row in rows)
        for _, path in sources:
            note = f"  ({dropped[path]} repeated texts dropped)" if dropped[path] else ""
            print(f"{by_source[path]:5d}  {path}{note}")
        print(f"{len(rows):5d}  -> {out.relative_to(ROOT)}")
        print(f"{field}:", dict(sorted(Counter(row[field] for row in rows).items())))
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
