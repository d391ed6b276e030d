"""Keywords of a period (关键词云): the most frequent words of the orders' texts.

jieba segmentation (precise mode, no HMM — stable and fast) with a private tokenizer,
so nothing leaks into other packages' jieba settings; single characters, numbers (also
in characters: 三个, 十一点) and the stop words in `data/stopwords.txt` (function words
and the vocabulary every request shares: 市民, 反映, 问题 ...) are dropped. CPU-bound:
callers run it off the event loop.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba

STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords.txt"
# Filler the corpus uses in every category alike (哪些, 需要, 以后, 早上): built from the
# TipDM messages by benchmarks/stats/build_stopwords.py.
CORPUS_STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords_corpus.txt"
_WORD = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fffA-Za-z][\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9]+$")
# Counts and times written in characters (三个, 十一点, 两天, 半年): not a topic.
_QUANTITY = re.compile(r"^[零一二两三四五六七八九十百千万几半多]+[个天点次年月日号周遍趟回]?$")

jieba.setLogLevel(logging.WARNING)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The hand-written list and the corpus-built one (if built)."""
    words: set[str] = set()
    for path in (STOPWORDS_FILE, CORPUS_STOPWORDS_FILE):
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            words.update(w.strip() for w in lines if w.strip() and not w.startswith("#"))
    return frozenset(words)


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def candidate_words(text: str) -> list[str]:
    """The words of one text that could be keywords: no single characters, numbers or
    punctuation (stop words not yet removed)."""
    return [
        w for w in _tokenizer().lcut(text, HMM=False) if _WORD.match(w) and not _QUANTITY.match(w)
    ]


def words(text: str) -> list[str]:
    """The content words of one text."""
    stop = stopwords()
    return [w for w in candidate_words(text) if w not in stop]


def top_keywords(texts: Iterable[str], top_n: int) -> list[tuple[str, int]]:
    """The `top_n` most frequent content words with their counts, ties by word."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_n]
