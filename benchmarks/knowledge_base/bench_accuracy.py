"""Top-1 / top-5 on the paraphrase set: baseline vs. ours, per half.

    .venv/bin/python -m benchmarks.knowledge_base.bench_accuracy [--misses]

`dev` is the half used while tuning; `held_out` was evaluated only at the end.
"""

from __future__ import annotations

import argparse

from benchmarks.knowledge_base.baseline import BaselineIndex
from knowledge_base.evaluation import evaluate, load_documents, load_paraphrases
from knowledge_base.search import SearchIndex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true", help="list the top-1 misses")
    args = parser.parse_args()
    documents = load_documents()
    systems = {
        "baseline (char-bigram BM25)": BaselineIndex(documents),
        "ours": SearchIndex(documents),
    }
    for name, index in systems.items():
        for split in ("dev", "held_out", "all"):
            accuracy = evaluate(index, load_paraphrases(split=split))
            print(
                f"{name:>28} {split:>8}: n={accuracy.n} top1={accuracy.top1:.3f} "
                f"top5={accuracy.top5:.3f}"
            )
            if args.misses and split == "all":
                for query, expected, got in accuracy.misses:
                    print(f"    {query} expected={expected} got={got[:3]}")


if __name__ == "__main__":
    main()
