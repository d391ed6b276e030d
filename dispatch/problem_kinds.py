"""Kinds of problems (垃圾, 噪音, 路灯 ...) a request names, from a small lexicon.

`data/problem_kinds.txt`: one kind per line, then the words that name it. A word may
name several kinds (杂物: litter and a blocked fire escape); kinds starting with `~`
are qualifiers (~odor: a smell) that count only when nothing else is named. The pair
model of duplicates (dispatch/duplicate_pairs.py) uses them as one signal among others.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

KINDS_FILE = Path(__file__).with_name("data") / "problem_kinds.txt"


def _read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _kinds() -> dict[str, frozenset[str]]:
    """word -> the kinds it names (杂物 is litter and a blocked fire escape)."""
    kinds_of: dict[str, set[str]] = {}
    for line in _read_lines(KINDS_FILE):
        kind, *words = line.split()
        for word in words:
            kinds_of.setdefault(word, set()).add(kind)
    return {word: frozenset(kinds) for word, kinds in kinds_of.items()}


def kinds_of(text: str) -> frozenset[str]:
    """The problems a text names; qualifiers (~odor: a smell) only when nothing else is."""
    # every word, overlaps too: 自来水管爆裂 is about the supply and a burst pipe
    kinds = frozenset(k for word, named in _kinds().items() if word in text for k in named)
    problems = frozenset(k for k in kinds if not k.startswith("~"))
    return problems or kinds
