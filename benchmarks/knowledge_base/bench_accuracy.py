"""Top-1 / top-5 of the plain char-1-2-gram BM25 baselines and ours, on our own data.

    .venv/bin/python -m benchmarks.knowledge_base.bench_accuracy [--misses] [--cv]

- paraphrases, per half (`dev` = even lines, `held_out` = odd lines);
- leave one variant out: each title / question variant is taken out of its entry and
  used as the query (no hand-written queries, so nothing here was tuned to them);
- `--cv`: 2-fold cross-validation of the weights. For each half, the grid below is
  searched on that half and the best setting is scored on the other half; the figure
  to quote is the mean of the two held-out scores, not the defaults' own score.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

from benchmarks.knowledge_base.baseline import BaselineIndex
from knowledge_base.evaluation import (
    Accuracy,
    evaluate,
    evaluate_variants,
    load_documents,
    load_paraphrases,
)
from knowledge_base.search import SearchIndex, SearchSettings

GRID = {
    "answer_weight": (0.0, 0.2, 0.3, 0.4, 0.5, 0.7),
    "pinyin_weight": (0.0, 0.1, 0.2, 0.4),
    "fuzzy_weight": (0.0, 0.1, 0.2),
}


def line(name: str, split: str, accuracy: Accuracy) -> str:
    figures = f"n={accuracy.n} top1={accuracy.top1:.3f} top5={accuracy.top5:.3f}"
    return f"{name:>34} {split:>9}: {figures}"


def cross_validate() -> None:
    documents = load_documents()
    halves = {"dev": load_paraphrases(split="dev"), "held_out": load_paraphrases(split="held_out")}
    settings = [
        replace(SearchSettings(), **dict(zip(GRID, values, strict=True)))
        for values in itertools.product(*GRID.values())
    ]
    indexes = [SearchIndex(documents, s) for s in settings]
    scores = {
        split: [evaluate(index, queries) for index in indexes] for split, queries in halves.items()
    }
    held = []
    for tune, test in (("dev", "held_out"), ("held_out", "dev")):
        best = max(range(len(settings)), key=lambda i: (scores[tune][i].top1, scores[tune][i].top5))
        chosen = {k: getattr(settings[best], k) for k in GRID}
        result = scores[test][best]
        held.append(result)
        print(f"tuned on {tune:>8}: {chosen} -> {line('', test, result).strip()}")
    print(
        f"2-fold CV (mean of held-out halves): top1={sum(a.top1 for a in held) / 2:.3f} "
        f"top5={sum(a.top5 for a in held) / 2:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true", help="list ours' top-1 misses")
    parser.add_argument("--cv", action="store_true", help="2-fold cross-validated weights")
    args = parser.parse_args()
    documents = load_documents()
    systems = {
        "baseline char-1-2 BM25 (title+q)": BaselineIndex,
        "baseline char-1-2 BM25 (+answer)": lambda d: BaselineIndex(d, with_answer=True),
        "ours": SearchIndex,
    }
    for name, build in systems.items():
        index = build(documents)
        for split in ("dev", "held_out", "all"):
            accuracy = evaluate(index, load_paraphrases(split=split))
            print(line(name, split, accuracy))
        variants = evaluate_variants(build)
        print(line(name, "variants", variants))
        if args.misses and name == "ours":
            for query, expected, got in evaluate(index, load_paraphrases()).misses:
                print(f"    {query} expected={expected} got={got[:3]}")
    if args.cv:
        cross_validate()


if __name__ == "__main__":
    main()
