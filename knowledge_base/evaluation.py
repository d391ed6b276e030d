"""Paraphrase evaluation: top-k accuracy of an index on `{"q", "expected"}` queries.

The paraphrase set is split in two halves by line parity: `dev` (even lines) is the
only one looked at while tuning; `held_out` (odd lines) is reported, never tuned on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
