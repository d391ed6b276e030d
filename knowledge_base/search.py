"""In-memory knowledge-base search index. Pure: documents in, ranked hits out.

Ranking, in three steps:
1. the backbone is BM25 over character unigrams + bigrams of title + question variants;
   BM25 of the whole answer (same tokens, own length statistics) is added with a
   smaller weight, because callers often ask about a detail only the answer states,
   and BM25 of pinyin syllables with a small weight catches homophone typos. The raw
   scores are summed: they share one scale (the same query tokens against similar
   fields), so no channel is inflated by dividing it by a weak best score;
2. the best `candidates` of that sum get a small bonus, relative to the best score,
   for rapidfuzz similarity between the query and an entry's title / question
   variants (a tie-breaker for word order, not a second opinion);
3. category / hotline filters mask documents before anything is ranked.

Why so plain: outside evaluators found a weighted fusion of five signals, tuned on our
own paraphrases, below plain character BM25 on paraphrases written elsewhere
(issue 13). Every weight here was chosen by cross-validation on our paraphrase set and
on leave-one-variant-out queries from the KB itself (benchmarks/knowledge_base/).

BM25 is a scipy CSC matrix of precomputed term weights (docs × vocabulary): a query
only touches the posting columns of its own terms, which keeps search in the low
milliseconds at 50k entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from scipy import sparse

from knowledge_base.domain import SearchDocument, SearchHit
from knowledge_base.text import char_tokens, normalize, pinyin_tokens

Tokenizer = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Ranking weights, relative to the title + questions character channel (1.0).

    Chosen by cross-validation on the paraphrase set and leave-one-variant-out queries
    (`benchmarks/knowledge_base/bench_accuracy.py`); the results were flat around
    these values, so they are round numbers, not a fitted optimum.
    """

    k1: float = 1.2
    b: float = 0.75
    answer_weight: float = 0.4
    pinyin_weight: float = 0.1
    # Bonus for fuzzy similarity, as a share of the query's best fused score.
    fuzzy_weight: float = 0.1
    candidates: int = 30
    # Answers are indexed whole up to this length, which bounds the cost per entry.
    answer_chars: int = 2000
    # In big indexes, answer terms found in more than this share of entries (的, 市, 办
    # ...) are ignored: no measurable accuracy, most of the search time at 50k.
    answer_max_df_share: float = 0.3
    prune_from: int = 1000


class Bm25Channel:
    """One BM25 field: term weights of every document, in a docs × terms CSC matrix."""

    def __init__(
        self,
        token_lists: Sequence[list[str]],
        k1: float,
        b: float,
        *,
        max_df_share: float = 1.0,
        prune_from: int = 0,
    ) -> None:
        """Terms found in more than `max_df_share` of the documents are dropped when
        there are at least `prune_from` documents: their idf is small, their postings
        are the longest, and in long fields they dominate the cost of a query."""
        flat = list(itertools.chain.from_iterable(token_lists))
        self.vocabulary = {token: i for i, token in enumerate(dict.fromkeys(flat))}
        cols = np.fromiter(map(self.vocabulary.__getitem__, flat), np.int32, len(flat))
        lengths = np.fromiter(map(len, token_lists), np.int32, len(token_lists))
        n_docs = len(token_lists)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        tf = sparse.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), cols, indptr),
            shape=(n_docs, max(len(self.vocabulary), 1)),
        )
        tf.sum_duplicates()  # repeated tokens of a document become their term frequency
        lengths = lengths.astype(np.float32)
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = np.repeat(k1 * (1 - b + b * lengths / average), np.diff(tf.indptr))
        tf.data = idf[tf.indices] * tf.data * (k1 + 1) / (tf.data + norm)
        self.weights = tf.tocsc()
        if n_docs >= prune_from and max_df_share < 1.0:
            common = df > max_df_share * n_docs
            self.vocabulary = {t: i for t, i in self.vocabulary.items() if not common[i]}
        self.n_docs = n_docs

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (each counted once)."""
        term_ids = {self.vocabulary[t] for t in tokens if t in self.vocabulary}
        if not term_ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        indptr, indices, data = self.weights.indptr, self.weights.indices, self.weights.data
        slices = [slice(indptr[t], indptr[t + 1]) for t in term_ids]
        rows = np.concatenate([indices[s] for s in slices])
        weights = np.concatenate([data[s] for s in slices])
        return np.bincount(rows, weights=weights, minlength=self.n_docs)


@dataclass(frozen=True, slots=True)
class DocumentTokens:
    """The token streams of one document: the expensive part of building an index,
    cached by callers per (external id, version) so a refresh re-tokenizes only what
    changed."""

    chars: list[str]
    pinyin: list[str]
    answer: list[str]
    variants: list[str]  # normalised title and questions, for fuzzy re-ranking


def tokenize(document: SearchDocument, settings: SearchSettings) -> DocumentTokens:
    content = document.content
    questions = normalize(" ".join((content.title, *content.questions)))
    return DocumentTokens(
        chars=char_tokens(questions),
        pinyin=pinyin_tokens(questions),
        answer=char_tokens(normalize(content.answer[: settings.answer_chars])),
        variants=[normalize(v).replace(" ", "") for v in (content.title, *content.questions)],
    )


class SearchIndex:
    """Immutable index over a fixed set of documents; rebuild it to change them."""

    def __init__(
        self,
        documents: Sequence[SearchDocument],
        settings: SearchSettings | None = None,
        *,
        tokens: Sequence[DocumentTokens] | None = None,
    ) -> None:
        """`tokens`, when given, are `tokenize(d, settings)` of each document, in order."""
        self.settings = s = settings or SearchSettings()
        self.documents = tuple(documents)
        if tokens is None:
            tokens = [tokenize(d, s) for d in self.documents]
        if len(tokens) != len(self.documents):
            raise ValueError("one DocumentTokens per document is needed")

        def channel(field: str, max_df_share: float = 1.0) -> Bm25Channel:
            token_lists = [getattr(t, field) for t in tokens]
            return Bm25Channel(
                token_lists, s.k1, s.b, max_df_share=max_df_share, prune_from=s.prune_from
            )

        # (channel, tokenizer applied to the normalised query, weight)
        self._channels: list[tuple[Bm25Channel, Tokenizer, float]] = [
            (channel("chars"), char_tokens, 1.0),
            (channel("answer", s.answer_max_df_share), char_tokens, s.answer_weight),
            (channel("pinyin"), pinyin_tokens, s.pinyin_weight),
        ]
        self._variants = [t.variants for t in tokens]
        self._masks: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.documents)

    def search(
        self,
        query: str,
        top: int = 5,
        *,
        category: str | None = None,
        hotline: str | None = None,
    ) -> list[SearchHit]:
        """The `top` best entries for `query`, best first; [] when nothing matches."""
        normalized = normalize(query)
        if not normalized or not self.documents or top <= 0:
            return []
        allowed = self._allowed(category, hotline)
        fused = np.zeros(len(self.documents), dtype=np.float64)
        for channel, tokenize, weight in self._channels:
            if weight:
                fused += weight * channel.scores(tokenize(normalized))
        if allowed is not None:
            fused = np.where(allowed, fused, 0.0)
        return self._rerank(normalized.replace(" ", ""), fused, top)

    def _rerank(self, query: str, fused: np.ndarray, top: int) -> list[SearchHit]:
        best = float(fused.max())
        if best <= 0:
            return []
        wanted = max(self.settings.candidates, top)
        # Partitioning only the documents within half of the best score gives the same
        # candidates whenever there are enough of them, at a fraction of the cost.
        pool = np.flatnonzero(fused >= 0.5 * best)
        if len(pool) < wanted:
            pool = np.flatnonzero(fused)
        if len(pool) > wanted:
            pool = pool[np.argpartition(fused[pool], -wanted)[-wanted:]]
        candidates = pool
        bonus = self.settings.fuzzy_weight * best
        ranked = []
        for i in candidates:
            similarity = max(
                (fuzz.ratio(query, v) + fuzz.partial_ratio(query, v)) / 200
                for v in self._variants[i]
            )
            ranked.append((float(fused[i]) + bonus * similarity, int(i)))
        ranked.sort(reverse=True)
        return [self._hit(i, score) for score, i in ranked[:top]]

    def _hit(self, i: int, score: float) -> SearchHit:
        document = self.documents[i]
        content = document.content
        return SearchHit(
            external_id=document.external_id,
            title=content.title,
            score=score,
            category=content.category,
            unit=content.unit,
            answer=content.answer,
        )

    def _allowed(self, category: str | None, hotline: str | None) -> np.ndarray | None:
        """Boolean mask of documents passing the filters (None: no filter)."""
        mask = None
        if category is not None:
            mask = self._mask("category", category)
        if hotline is not None:
            by_hotline = self._mask("hotline", hotline)
            mask = by_hotline if mask is None else mask & by_hotline
        return mask

    def _mask(self, kind: str, value: str) -> np.ndarray:
        key = (kind, value)
        if key not in self._masks:
            if kind == "category":
                keep = [d.content.category == value for d in self.documents]
            else:
                # An entry without hotlines answers for every hotline.
                keep = [
                    not d.content.hotlines or value in d.content.hotlines for d in self.documents
                ]
            self._masks[key] = np.asarray(keep, dtype=bool)
        return self._masks[key]
