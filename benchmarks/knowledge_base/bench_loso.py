"""Leave-one-set-out figures of KB search, plain BM25 beside them; writes the shipped
alias table, term weights and re-ranker.

    .venv/bin/python -m benchmarks.knowledge_base.bench_loso [--strict] [--write]

The paraphrase sets of the demo KB, each by other writers (none of them blind any
more, see RESULTS.md): our own set, blind, blind3, blind4 (retired after its figures
were reported) and the dev sets kb_dev / kb_dev2 / kb_dev3 (kb_dev3: 321 paraphrases
by a writer who kept away from every 4-character run of the entries' titles and
questions) and kb_dev4 (428, four per entry, by a sixth training writer; the shipped
search scored 0.909 / 0.988 on it before anything was learned from it).
For each set in turn, the aliases are mined and the re-ranker fitted on the other
sets only (`knowledge_base.training.learn`) and the result is scored on the held-out
set; the plain char-1-2-gram BM25 of title + questions + answer is scored on the same
set. `--strict` also keeps the held-out queries' entries out of the learning: the
entries are split by the parity of their number, and queries on one half are scored
with what was learned from the other half's pairs only, as for a KB learned nowhere
(another centre's) — *strict* keeps the learned callers' terms of the other half's
entries, as for entries added to a KB after the learning; *foreign* drops them all, as
for another centre's KB, where no entry has any. `--write` learns from all sets and
writes data/aliases.tsv, data/term_weights.tsv, data/ranker.json and
data/paraphrase_terms.tsv.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.knowledge_base.baseline import BaselineIndex
from knowledge_base.evaluation import load_documents
from knowledge_base.learned import write
from knowledge_base.search import SearchIndex
from knowledge_base.training import Pair, learn

ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "own": ROOT / "knowledge_base/data/paraphrases.jsonl",
    "blind": ROOT / "benchmarks/blind/kb_blind.jsonl",
    "blind3": ROOT / "benchmarks/blind3/kb.jsonl",
    "kb_dev": ROOT / "benchmarks/knowledge_base/dev/kb_dev.jsonl",
    "kb_dev2": ROOT / "benchmarks/knowledge_base/dev/kb_dev2.jsonl",
    "blind4": ROOT / "benchmarks/blind4/kb.jsonl",
    "kb_dev3": ROOT / "benchmarks/knowledge_base/dev/kb_dev3.jsonl",
    "kb_dev4": ROOT / "benchmarks/knowledge_base/dev/kb_dev4.jsonl",
}
TOP = 5


def read_pairs(path: Path) -> list[Pair]:
    """(query, expected id) of `{"q", "id"}` or `{"q", "expected"}` lines."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["q"], r.get("id") or r["expected"]) for r in rows]


def hits(index, pairs: Sequence[Pair]) -> tuple[int, int]:
    top1 = top5 = 0
    for query, expected in pairs:
        ids = [h.external_id for h in index.search(query, top=TOP)]
        top1 += ids[:1] == [expected]
        top5 += expected in ids
    return top1, top5


def parity(external_id: str) -> int:
    return int(external_id[-1]) % 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strict", action="store_true", help="also entry-disjoint learning")
    parser.add_argument("--write", action="store_true", help="learn from all sets and ship it")
    args = parser.parse_args()
    documents = load_documents()
    sets = {name: read_pairs(path) for name, path in SETS.items()}
    baseline = BaselineIndex(documents, with_answer=True)
    totals = {"ours": [0, 0], "strict": [0, 0], "foreign": [0, 0], "bm25": [0, 0]}
    n_total = 0
    for held, queries in sets.items():
        training = {name: pairs for name, pairs in sets.items() if name != held}
        learned = learn(training, documents)
        results = {
            "ours": hits(SearchIndex(documents, learned=learned), queries),
            "bm25": hits(baseline, queries),
        }
        if args.strict:
            strict, foreign = [0, 0], [0, 0]
            for side in (0, 1):
                kept = {
                    name: [p for p in pairs if parity(p[1]) != side]
                    for name, pairs in training.items()
                }
                learned = learn(kept, documents)
                held_side = [p for p in queries if parity(p[1]) == side]
                for total, used in (
                    (strict, learned),
                    (foreign, replace(learned, paraphrases={})),
                ):
                    a, b = hits(SearchIndex(documents, learned=used), held_side)
                    total[0] += a
                    total[1] += b
            results["strict"] = tuple(strict)
            results["foreign"] = tuple(foreign)
        n = len(queries)
        n_total += n
        line = []
        for name, (top1, top5) in results.items():
            totals[name][0] += top1
            totals[name][1] += top5
            line.append(f"{name} {top1 / n:.3f} / {top5 / n:.3f}")
        print(f"held out {held:>8} (n={n}): " + "   ".join(line), flush=True)
    summary = [
        f"{name} {t1 / n_total:.3f} / {t5 / n_total:.3f}"
        for name, (t1, t5) in totals.items()
        if name not in ("strict", "foreign") or args.strict
    ]
    print(f"all held-out queries (n={n_total}): " + "   ".join(summary))
    if args.write:
        learned = learn(sets, documents)
        write(learned)
        print(
            f"wrote {len(learned.aliases)} aliases, {len(learned.term_weights)} term weights, "
            f"callers' terms of {len(learned.paraphrases)} entries and the re-ranker "
            f"{learned.ranker.as_json()}"
        )


if __name__ == "__main__":
    main()
