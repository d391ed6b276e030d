"""Possible duplicates (重复件) of a new request among recent open orders.

Candidates come from SQL (open orders of the last N days, same district when known);
this module scores them: character-bigram overlap of the content (robust to word order
and extra words, no segmentation needed) and rapidfuzz similarity of the place. A
candidate above a threshold is suggested for merging (并单); the dispatcher decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from rapidfuzz import fuzz

CONTENT_WEIGHT = 0.7  # the place only counts when both sides name one


@dataclass(frozen=True)
class Candidate:
    number: str
    content: str
    address: str | None


@dataclass(frozen=True)
class Duplicate:
    number: str
    similarity: float
    same_place: bool


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in pairwise(chars)}


def text_similarity(a: str, b: str, ignore: frozenset[str] = frozenset()) -> float:
    """Character-bigram overlap: half Jaccard, half containment (short vs long texts).

    `ignore`: bigrams of the place both addresses name. The place is scored on its own,
    and a shared estate name must not make a street-lamp report look like a rubbish
    complaint.
    """
    x, y = _bigrams(a) - ignore, _bigrams(b) - ignore
    if not x or not y:
        return 0.0
    common = len(x & y)
    return 0.5 * common / len(x | y) + 0.5 * common / min(len(x), len(y))


def similarity(content: str, address: str | None, other: Candidate) -> tuple[float, bool]:
    if not address or not other.address:
        return text_similarity(content, other.content), False
    shared_place = frozenset(_bigrams(address) & _bigrams(other.address))
    text = text_similarity(content, other.content, shared_place)
    place = fuzz.partial_ratio(address, other.address) / 100
    return CONTENT_WEIGHT * text + (1 - CONTENT_WEIGHT) * place, place >= 0.9


def find_duplicates(
    content: str, address: str | None, candidates: list[Candidate], threshold: float, limit: int = 3
) -> list[Duplicate]:
    scored = []
    for candidate in candidates:
        score, same_place = similarity(content, address, candidate)
        if score >= threshold:
            scored.append(Duplicate(candidate.number, round(score, 3), same_place))
    scored.sort(key=lambda d: d.similarity, reverse=True)
    return scored[:limit]
