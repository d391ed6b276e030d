"""The reference point: plain BM25 over character unigrams + bigrams.

No synonyms, no fillers, no pinyin, no fuzzy re-ranking; only NFKC, lower case and
punctuation removal. By default title + question variants are indexed (the fields a
FAQ search indexes first); `with_answer=True` adds the answer to the same bag. Same
`search(query, top)` shape as `SearchIndex`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from knowledge_base.domain import SearchDocument, SearchHit
from knowledge_base.search import Bm25Channel

_SEPARATORS = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


def char_grams(text: str) -> list[str]:
    """Character unigrams and bigrams of each punctuation-free run."""
    text = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower())
    grams: list[str] = []
    for run in text.split():
        grams.extend(run)
        grams.extend(a + b for a, b in itertools.pairwise(run))
    return grams


class BaselineIndex:
    def __init__(self, documents: Sequence[SearchDocument], *, with_answer: bool = False) -> None:
        self.documents = tuple(documents)
        texts = [
            " ".join((d.content.title, *d.content.questions, *([d.content.answer] * with_answer)))
            for d in self.documents
        ]
        self.channel = Bm25Channel([char_grams(t) for t in texts], k1=1.2, b=0.75)

    def search(self, query: str, top: int = 5) -> list[SearchHit]:
        scores = self.channel.scores(char_grams(query))
        order = np.argsort(-scores, kind="stable")[:top]
        return [
            SearchHit(
                d.external_id,
                d.content.title,
                float(scores[i]),
                d.content.category,
                d.content.unit,
                d.content.answer,
            )
            for i in order
            if scores[i] > 0
            for d in [self.documents[i]]
        ]
