"""Word n-gram TF-IDF (jieba) beside the character n-grams of the short-request pipeline.

Character n-grams cannot tell 快递 in 快递员 from 递交, nor that 龙头 and 没水 together
mean a tap that gives nothing; jieba's words (and word pairs) carry some of that. Only
the short-request pipeline uses them (issue 13, bench_corpus.py): long letters keep the
character model they were tuned with.

jieba runs in its default precise mode without HMM (new words are not guessed: stable
and fast, about 20 µs for a phone request) on a private ``Tokenizer``, so nothing
leaks into other packages' jieba settings. Its dictionary loads on first use (~1 s,
cached by jieba in the temp directory); :func:`warm_up` does it at model load.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .char_features import sublinear_tfidf_rows, vocabulary_ids

# Tokens made only of punctuation, spaces or symbols carry nothing.
_CONTENT = re.compile(r"[\w\u4e00-\u9fff]")
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _LOCK:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
    return tokenizer


def words(doc: str) -> list[str]:
    """jieba words of ``doc`` (already normalised) that hold a letter, digit or CJK."""
    return [w for w in _tokenizer().lcut(doc, HMM=False) if _CONTENT.search(w)]


def word_ngrams(doc: str, n: int = 2) -> list[str]:
    """Words and joined runs of up to ``n`` consecutive words (module level: picklable)."""
    tokens = words(doc)
    grams = list(tokens)
    for k in range(2, n + 1):
        grams.extend(" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1))
    return grams


def word_bigrams(doc: str) -> list[str]:
    return word_ngrams(doc, 2)


def word_unigrams(doc: str) -> list[str]:
    return word_ngrams(doc, 1)


class WordTfidf(TfidfVectorizer):
    """``TfidfVectorizer`` over jieba words (``max_n`` 1: words, 2: + word pairs),
    sublinear TF, L2 norm, the whole block multiplied by ``scale`` (its weight beside the
    character block, whose rows have norm 1)."""

    def __init__(self, max_n: int = 2, scale: float = 1.0, min_df: int = 1, dtype=np.float32):
        self.max_n = max_n
        self.scale = scale
        super().__init__(
            analyzer=word_bigrams if max_n >= 2 else word_unigrams,
            sublinear_tf=True,
            norm="l2",
            min_df=min_df,
            dtype=dtype,
        )

    def fit_transform(self, raw_documents, y=None):
        return super().fit_transform(raw_documents, y) * self.scale

    # transform: the same rows as scikit-learn's (tests/classifiers), ~20x faster

    def transform(self, raw_documents):
        grams = map(self.analyzer, raw_documents)
        rows = sublinear_tfidf_rows(vocabulary_ids(self.vocabulary_, grams), self)
        return rows * self.scale if self.scale != 1.0 else rows


def warm_up() -> None:
    """Load jieba's dictionary now instead of in the first prediction."""
    _tokenizer()
