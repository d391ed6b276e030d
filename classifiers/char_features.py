"""Character n-gram TF-IDF with a fast single-process ``transform`` and a compact
vocabulary.

scikit-learn's char analyzer spends about 1.7 ms on a 1,200-character letter; the
prediction budget is 3 ms. ``CharTfidf`` fits exactly like ``TfidfVectorizer`` and
replaces only ``transform`` by an equivalent that builds the n-grams with numpy and
counts them with numpy (tests/classifiers check both give the same matrix).

A fitted vocabulary is kept as two sorted arrays (``GramColumns``) instead of
scikit-learn's dict of strings: the category model's 1.5 million character n-grams took
~300 MB of every process that reads with it (service processes and their reading
workers), as arrays 18 MB. An n-gram of up to three characters is keyed exactly by its
code points (21 bits each). (The word vocabulary of ``WordTfidf``, 350k entries, stays
a dict: hashed keys or a string array were 2-3x slower to look up.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_WHITE_SPACES = re.compile(r"\s\s+")  # the pattern scikit-learn's char analyzer uses
_BITS = 21  # every code point (<= 0x10FFFF) + 1 fits; three of them fit an int64
_MAX_PACKED = 3


class GramColumns:
    """A fitted character n-gram vocabulary as sorted 64-bit keys (`char_key`) and the
    column of each."""

    def __init__(self, keys: np.ndarray, columns: np.ndarray) -> None:
        self.keys = keys
        self.columns = columns

    @classmethod
    def of(cls, vocabulary: dict[str, int]) -> GramColumns:
        """A vocabulary of n-grams of up to three characters (`char_key` is exact: no
        two share a key)."""
        keys = np.fromiter(map(char_key, vocabulary), np.int64, len(vocabulary))
        columns = np.fromiter(vocabulary.values(), np.int32, len(vocabulary))
        order = np.argsort(keys)
        return cls(keys[order], columns[order])

    def __len__(self) -> int:
        return len(self.keys)

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """The column of each key, -1 where the vocabulary has none."""
        if not len(self.keys) or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.searchsorted(self.keys, keys)
        at[at == len(self.keys)] = 0
        return np.where(self.keys[at] == keys, self.columns[at], -1)


def vocabulary_ids(
    vocabulary: dict[str, int], gram_lists: Iterable[list[str]]
) -> Iterable[np.ndarray]:
    """Each document's gram columns in a scikit-learn vocabulary (-1: not in it)."""
    return (
        np.fromiter(map(vocabulary.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        for grams in gram_lists
    )


def char_key(gram: str) -> int:
    """A character n-gram (<= 3 characters) as an integer: its code points + 1, 21 bits
    each (no gram of one length shares a key with a gram of another)."""
    key = 0
    for char in gram:
        key = (key << _BITS) | (ord(char) + 1)
    return key


class CharTfidf(TfidfVectorizer):
    """``TfidfVectorizer(analyzer="char", sublinear_tf=True, norm="l2")`` with fast
    transform; once fitted (or loaded from a model pickled with scikit-learn's dict),
    its vocabulary is ``gram_columns_`` (n-grams of up to three characters)."""

    gram_columns_: GramColumns | None = None

    def __init__(self, ngram_range=(1, 3), dtype=np.float32):
        super().__init__(
            analyzer="char", ngram_range=ngram_range, sublinear_tf=True, norm="l2", dtype=dtype
        )

    def fit(self, raw_documents, y=None):
        super().fit(raw_documents, y)
        self._compact()
        return self

    def fit_transform(self, raw_documents, y=None):
        rows = super().fit_transform(raw_documents, y)
        self._compact()
        return rows

    def __setstate__(self, state):
        super().__setstate__(state)
        if "vocabulary_" in self.__dict__ and self.gram_columns_ is None:
            self._compact()

    def _compact(self) -> None:
        if self.ngram_range[1] <= _MAX_PACKED:
            self.gram_columns_ = GramColumns.of(self.vocabulary_)
            del self.vocabulary_

    def _text(self, doc: str) -> str:
        return _WHITE_SPACES.sub(" ", doc.lower())

    def _grams(self, doc: str) -> list[str]:
        text = self._text(doc)
        lo, hi = self.ngram_range
        grams: list[str] = []
        for n in range(lo, hi + 1):
            if n == 1:
                grams.extend(text)
            else:
                grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
        return grams

    def doc_keys(self, doc: str) -> np.ndarray:
        """`char_key` of every n-gram of `doc`, in `_grams`' order."""
        text = self._text(doc).encode("utf-32-le", "surrogatepass")
        points = np.frombuffer(text, dtype=np.uint32).astype(np.int64) + 1
        lo, hi = self.ngram_range
        parts = []
        for n in range(lo, hi + 1):
            count = len(points) - n + 1
            if count <= 0:
                break
            key = points[:count].copy()
            for k in range(1, n):
                key <<= _BITS
                key |= points[k : k + count]
            parts.append(key)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def get_feature_names_out(self, input_features=None):
        columns = self.gram_columns_
        if columns is None:
            return super().get_feature_names_out(input_features)
        names = np.empty(len(columns), dtype=object)
        mask = (1 << _BITS) - 1
        for key, column in zip(columns.keys.tolist(), columns.columns.tolist(), strict=True):
            chars = []
            while key:
                chars.append(chr((key & mask) - 1))
                key >>= _BITS
            names[column] = "".join(reversed(chars))
        return names

    def transform(self, raw_documents):
        columns = self.gram_columns_
        if columns is None:
            ids = vocabulary_ids(self.vocabulary_, map(self._grams, raw_documents))
        else:
            ids = (columns.ids(self.doc_keys(doc)) for doc in raw_documents)
        return sublinear_tfidf_rows(ids, self)


def sublinear_tfidf_rows(column_ids: Iterable[np.ndarray], vectorizer) -> sp.csr_matrix:
    """What a fitted ``TfidfVectorizer(sublinear_tf=True, norm="l2")`` returns for
    documents whose grams are already looked up (`column_ids`: each document's gram
    columns, -1 for grams outside the vocabulary), without scikit-learn's per-call
    overhead (about 1 ms per call, more than the rest of a prediction)."""
    idf = vectorizer.idf_
    indptr, indices, values = [0], [], []
    for ids in column_ids:
        ids = ids[ids >= 0]
        if ids.size:
            cols, counts = np.unique(ids, return_counts=True)
            w = (1.0 + np.log(counts)) * idf[cols]
            w /= np.sqrt(np.dot(w, w))
            indices.append(cols)
            values.append(w)
        indptr.append(indptr[-1] + (len(cols) if ids.size else 0))
    data = np.concatenate(values) if values else np.zeros(0)
    idx = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix(
        (data.astype(vectorizer.dtype), idx, np.asarray(indptr)),
        shape=(len(indptr) - 1, len(idf)),
    )
