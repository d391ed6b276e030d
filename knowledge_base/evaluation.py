"""Paraphrase evaluation: top-k accuracy of an index on `{"q", "expected"}` queries.

Held-out figures come from `benchmarks/knowledge_base/bench_loso.py`: what search
learned (`learned.py`) is learned from all paraphrase sets but one and scored on that
one. `load_paraphrases` still offers the old halves of our own set by line parity
(`dev` = even lines, `held_out` = odd lines), but the shipped files learned from both.

A second check needs no hand-written queries at all: leave one variant out. Each
title / question variant of an entry in turn is removed from the index and used as
the query; the entry must still be found by its other wording and its answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from knowledge_base.domain import SearchDocument
from knowledge_base.records import read_records
from knowledge_base.search import SearchIndex

DATA_DIR = Path(__file__).with_name("data")
DEMO_KB = DATA_DIR / "demo_kb.jsonl"
PARAPHRASES = DATA_DIR / "paraphrases.jsonl"

Split = Literal["all", "dev", "held_out"]


@dataclass(frozen=True, slots=True)
class Paraphrase:
    query: str
    expected: str


@dataclass(frozen=True, slots=True)
class Accuracy:
    n: int
    top1: float
    top5: float
    misses: tuple[tuple[str, str, list[str]], ...]


def load_paraphrases(path: Path = PARAPHRASES, split: Split = "all") -> list[Paraphrase]:
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    pairs = [Paraphrase(r["q"], r["expected"]) for r in records]
    if split == "dev":
        return pairs[0::2]
    if split == "held_out":
        return pairs[1::2]
    return pairs


def load_documents(path: Path = DEMO_KB) -> list[SearchDocument]:
    """Demo KB records as search documents (no database involved)."""
    return [SearchDocument(r.external_id, r.content) for r in read_records(path)]


def leave_one_variant_out(
    documents: Sequence[SearchDocument],
) -> list[tuple[list[SearchDocument], list[Paraphrase]]]:
    """(documents without their j-th title/question text, those texts as queries) for
    each j; an entry keeps at least one text, so single-text entries are skipped."""
    rounds = []
    longest = max((1 + len(d.content.questions) for d in documents), default=0)
    for j in range(longest):
        reduced, queries = [], []
        for d in documents:
            texts = [d.content.title, *d.content.questions]
            if j < len(texts) and len(texts) > 1:
                queries.append(Paraphrase(texts[j], d.external_id))
                del texts[j]
                content = replace(d.content, title=texts[0], questions=tuple(texts[1:]))
                d = replace(d, content=content)
            reduced.append(d)
        rounds.append((reduced, queries))
    return rounds


def evaluate_variants(build: Callable[[list[SearchDocument]], object]) -> Accuracy:
    """Leave-one-variant-out accuracy of the index `build(documents)` makes."""
    results = [
        evaluate(build(reduced), queries)
        for reduced, queries in leave_one_variant_out(load_documents())
    ]
    n = sum(r.n for r in results)
    return Accuracy(
        n,
        sum(r.top1 * r.n for r in results) / n,
        sum(r.top5 * r.n for r in results) / n,
        tuple(m for r in results for m in r.misses),
    )


def evaluate(index: SearchIndex, paraphrases: list[Paraphrase]) -> Accuracy:
    top1 = top5 = 0
    misses = []
    for p in paraphrases:
        ids = [hit.external_id for hit in index.search(p.query, top=5)]
        top1 += bool(ids) and ids[0] == p.expected
        top5 += p.expected in ids
        if not ids or ids[0] != p.expected:
            misses.append((p.query, p.expected, ids))
    n = len(paraphrases)
    return Accuracy(n, top1 / n, top5 / n, tuple(misses))
