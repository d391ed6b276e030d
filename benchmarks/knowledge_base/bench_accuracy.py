"""Top-1 / top-5 of the shipped search and the plain char-1-2-gram BM25 baselines on
our own data.

    .venv/bin/python -m benchmarks.knowledge_base.bench_accuracy [--misses]

- every paraphrase set of the demo KB: the shipped aliases, term weights and re-ranker
  were learned from all of them, so these figures are NOT held out (they show what
  the shipped files do on what they saw); the held-out figures are `bench_loso`'s;
- leave one variant out: each title / question variant is taken out of its entry and
  used as the query (KB texts, which nothing was learned from).
"""

from __future__ import annotations

import argparse

from benchmarks.knowledge_base.baseline import BaselineIndex
from benchmarks.knowledge_base.bench_loso import SETS, read_pairs
from knowledge_base.evaluation import (
    Accuracy,
    Paraphrase,
    evaluate,
    evaluate_variants,
    load_documents,
)
from knowledge_base.search import SearchIndex


def line(name: str, split: str, accuracy: Accuracy) -> str:
    figures = f"n={accuracy.n} top1={accuracy.top1:.3f} top5={accuracy.top5:.3f}"
    return f"{name:>34} {split:>9}: {figures}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true", help="list ours' top-1 misses")
    args = parser.parse_args()
    documents = load_documents()
    sets = {name: [Paraphrase(q, e) for q, e in read_pairs(path)] for name, path in SETS.items()}
    systems = {
        "baseline char-1-2 BM25 (title+q)": BaselineIndex,
        "baseline char-1-2 BM25 (+answer)": lambda d: BaselineIndex(d, with_answer=True),
        "ours (learned from these sets)": SearchIndex,
    }
    for name, build in systems.items():
        index = build(documents)
        for split, queries in sets.items():
            print(line(name, split, evaluate(index, queries)))
        print(line(name, "variants", evaluate_variants(build)))
        if args.misses and name.startswith("ours"):
            for queries in sets.values():
                for query, expected, got in evaluate(index, queries).misses:
                    print(f"    {query} expected={expected} got={got[:3]}")


if __name__ == "__main__":
    main()
