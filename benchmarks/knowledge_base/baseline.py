"""The reference point: plain BM25 over character bigrams of title + question.

No synonyms, no fillers, no words, no pinyin, no fuzzy re-ranking; only NFKC and
punctuation removal. Same `search(query, top)` shape as `SearchIndex`.
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


def bigrams(text: str) -> list[str]:
    text = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return [a + b for run in text.split() for a, b in itertools.pairwise(run)]


class BaselineIndex:
    def __init__(self, documents: Sequence[SearchDocument]) -> None:
        self.documents = tuple(documents)
        texts = [" ".join((d.content.title, *d.content.questions)) for d in self.documents]
        self.channel = Bm25Channel([bigrams(t) for t in texts], k1=1.2, b=0.75)

    def search(self, query: str, top: int = 5) -> list[SearchHit]:
        scores = self.channel.scores(bigrams(query))
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
