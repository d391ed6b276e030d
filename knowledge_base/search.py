"""In-memory knowledge-base search index. Pure: documents in, ranked hits out.

Ranking (issue 13, fourth round):
1. the backbone is plain BM25 over character unigrams + bigrams of title + question
   variants + answer, no synonyms, no fillers: on paraphrases written elsewhere it beat
   every hand-tuned fusion we had;
2. eight features, the BM25 ones each divided by their best value over the index:
   that backbone score, BM25 of title + questions alone and of the answer alone, BM25
   of pinyin syllables (homophone typos), BM25 after the synonym / filler table, BM25
   of the query's mined aliases (出国 → 护照), BM25 of the query's terms at their
   learned weights (fillers near 0) and a rapidfuzz similarity to the closest title /
   question variant (`learned.py` says what was learned and how); the best
   `candidates` entries by the sum of the BM25 features form the pool; then (sixth
   round) BM25 of the pool entries' learned callers' terms and whether an entry has
   any (document expansion from paraphrases, the demo KB's own memory);
3. a logistic regression over those features (data/ranker.json) orders the pool; its
   probability is the hit's score. Everything learned was learned from paraphrase
   sets and measured leave-one-set-out (`benchmarks/knowledge_base/bench_loso`);
4. category / hotline filters mask documents before anything is ranked.

Only the callers' terms name entries (by external id and title); the rest carries over
to another centre's KB, where those two features are 0 for every entry.

BM25 is a scipy CSC matrix of precomputed term weights (docs × vocabulary): a query
only touches the posting columns of its own terms, which keeps search in the low
milliseconds at 50k entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse

from knowledge_base.domain import SearchDocument, SearchHit
from knowledge_base.learned import Learned, shipped
from knowledge_base.text import (
    char_bigrams,
    char_tokens,
    normalize,
    pinyin_tokens,
    plain_normalize,
)

# Indexes of at least 8 × this many entries pick the pool's floor from a sample of it.
POOL_SAMPLE = 1024


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """BM25 parameters and the pool size; the feature weights are learned (ranker.json)."""

    k1: float = 1.5
    b: float = 0.75
    candidates: int = 30
    # Answers are indexed whole up to this length, which bounds the cost per entry.
    answer_chars: int = 2000
    # In big indexes, terms found in more than this share of entries (的, 市, 办 ...) are
    # ignored in every BM25 channel: no measurable accuracy, most of the search time at
    # 50k (the title + questions and pinyin channels too since issue 13's fifth round:
    # 5k / 50k paraphrase accuracy unchanged, their cost per query 0.64 → 0.26 ms at 50k).
    answer_max_df_share: float = 0.3
    prune_from: int = 1000


@dataclass(frozen=True, slots=True)
class TermCounts:
    """Raw term frequencies of a field: docs × vocabulary, and each document's length."""

    vocabulary: dict[str, int]
    counts: sparse.csr_matrix
    lengths: np.ndarray

    @classmethod
    def of(
        cls, token_lists: Sequence[list[str]], vocabulary: dict[str, int] | None = None
    ) -> TermCounts:
        """`vocabulary` (when fields share one) must hold every token of `token_lists`."""
        flat = list(itertools.chain.from_iterable(token_lists))
        if vocabulary is None:
            vocabulary = {token: i for i, token in enumerate(dict.fromkeys(flat))}
        cols = np.fromiter(map(vocabulary.__getitem__, flat), np.int32, len(flat))
        lengths = np.fromiter(map(len, token_lists), np.int32, len(token_lists))
        indptr = np.zeros(len(token_lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        counts = sparse.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), cols, indptr),
            shape=(len(token_lists), max(len(vocabulary), 1)),
        )
        counts.sum_duplicates()  # repeated tokens of a document become their frequency
        return cls(vocabulary, counts, lengths)

    def __add__(self, other: TermCounts) -> TermCounts:
        """Two fields of the same documents over one vocabulary, as one field."""
        if other.vocabulary is not self.vocabulary:
            raise ValueError("only counts over the same vocabulary add up")
        return TermCounts(self.vocabulary, self.counts + other.counts, self.lengths + other.lengths)


def shared_counts(*fields: Sequence[list[str]]) -> list[TermCounts]:
    """Term counts of several fields of the same documents over one vocabulary, so
    they can be added (title + questions + answer from the two parts) without
    another pass over the tokens."""
    vocabulary: dict[str, int] = {}
    for token_lists in fields:
        for tokens in token_lists:
            for token in tokens:
                vocabulary.setdefault(token, len(vocabulary))
    return [TermCounts.of(token_lists, vocabulary) for token_lists in fields]


# Mean postings per query term up to which a query's postings are gathered by one index
# array rather than sliced term by term: the demo KB's long requests (~100 characters,
# hundreds of terms) 2.6 -> 1.6 ms a search; at 50k entries the slices stay (gathering
# all postings was slower there, bench_search).
GATHER_POSTINGS = 64


class Bm25Channel:
    """One BM25 field: term weights of every document, in a docs × terms CSC matrix."""

    def __init__(
        self,
        field: Sequence[list[str]] | TermCounts,
        k1: float,
        b: float,
        *,
        max_df_share: float = 1.0,
        prune_from: int = 0,
    ) -> None:
        """`field`: each document's tokens, or their `TermCounts`. Terms found in more
        than `max_df_share` of the documents are dropped when there are at least
        `prune_from` documents: their idf is small, their postings are the longest, and
        in long fields they dominate the cost of a query."""
        counted = field if isinstance(field, TermCounts) else TermCounts.of(field)
        tf = counted.counts.copy()
        n_docs = tf.shape[0]
        lengths = counted.lengths.astype(np.float32)
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = np.repeat(k1 * (1 - b + b * lengths / average), np.diff(tf.indptr))
        tf.data = idf[tf.indices] * tf.data * (k1 + 1) / (tf.data + norm)
        self.weights = tf.tocsc()
        self.vocabulary = counted.vocabulary
        if n_docs >= prune_from and max_df_share < 1.0:
            common = df > max_df_share * n_docs
            self.vocabulary = {t: i for t, i in self.vocabulary.items() if not common[i]}
        self.n_docs = n_docs

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (each counted once)."""
        return self.weighted_scores(dict.fromkeys(tokens, 1.0))

    def weighted_scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """Sum over the terms of weight × the term's BM25 weight in each document."""
        vocabulary = self.vocabulary
        found = [(vocabulary[t], w) for t, w in terms.items() if t in vocabulary]
        if not found:
            return np.zeros(self.n_docs, dtype=np.float64)
        indptr, indices, data = self.weights.indptr, self.weights.indices, self.weights.data
        ids, factors = zip(*found, strict=True)
        ids = np.fromiter(ids, np.int64, len(found))
        starts, lengths = indptr[ids], indptr[ids + 1] - indptr[ids]
        ends = np.cumsum(lengths)
        if ends[-1] > GATHER_POSTINGS * len(found):  # long postings: contiguous slices
            bounds = zip(starts.tolist(), (starts + lengths).tolist(), strict=True)
            slices = [slice(a, b) for a, b in bounds]
            rows = np.concatenate([indices[s] for s in slices])
            weights = np.concatenate([data[s] * w for s, w in zip(slices, factors, strict=True)])
            return np.bincount(rows, weights=weights, minlength=self.n_docs)
        # short postings (a small KB, a long query: hundreds of terms): every posting of
        # the terms, term after term as the slices give them, read with one index array;
        # the factor in the postings' dtype, as `data[slice] * w` with a Python float
        at = np.arange(ends[-1]) + np.repeat(starts - ends + lengths, lengths)
        weights = data[at] * np.repeat(np.asarray(factors, data.dtype), lengths)
        return np.bincount(indices[at], weights=weights, minlength=self.n_docs)


@dataclass(frozen=True, slots=True)
class DocumentTokens:
    """The token streams of one document: the expensive part of building an index,
    cached by callers per (external id, version) so a refresh re-tokenizes only what
    changed."""

    questions: list[str]  # char 1-2-grams of title + questions, plain normalisation
    answer: list[str]  # the same of the answer
    pinyin: list[str]  # pinyin syllables of title + questions
    synonyms: list[str]  # char 1-2-grams of everything after the synonym / filler table
    variants: list[str]  # title and questions, plain normalisation, for rapidfuzz


def tokenize(document: SearchDocument, settings: SearchSettings) -> DocumentTokens:
    content = document.content
    questions = plain_normalize(" ".join((content.title, *content.questions)))
    answer = content.answer[: settings.answer_chars]
    return DocumentTokens(
        questions=char_tokens(questions),
        answer=char_tokens(plain_normalize(answer)),
        pinyin=pinyin_tokens(questions),
        synonyms=char_tokens(normalize(f"{content.title} {' '.join(content.questions)} {answer}")),
        variants=[plain_normalize(v).replace(" ", "") for v in (content.title, *content.questions)],
    )


class SearchIndex:
    """Immutable index over a fixed set of documents; rebuild it to change them."""

    def __init__(
        self,
        documents: Sequence[SearchDocument],
        settings: SearchSettings | None = None,
        *,
        tokens: Sequence[DocumentTokens] | None = None,
        learned: Learned | None = None,
    ) -> None:
        """`tokens`, when given, are `tokenize(d, settings)` of each document, in order;
        `learned` defaults to the shipped files (benchmarks and training pass others)."""
        self.settings = s = settings or SearchSettings()
        self.documents = tuple(documents)
        self.learned = learned or shipped()
        if tokens is None:
            tokens = [tokenize(d, s) for d in self.documents]
        if len(tokens) != len(self.documents):
            raise ValueError("one DocumentTokens per document is needed")

        def channel(field: list[list[str]] | TermCounts, max_df_share: float = 1.0) -> Bm25Channel:
            return Bm25Channel(field, s.k1, s.b, max_df_share=max_df_share, prune_from=s.prune_from)

        share = s.answer_max_df_share
        questions, answers = shared_counts(
            [t.questions for t in tokens], [t.answer for t in tokens]
        )
        self._all = channel(questions + answers, share)
        self._questions = channel(questions, share)
        self._answer = channel(answers, share)
        self._pinyin = channel([t.pinyin for t in tokens], share)
        self._synonyms = channel([t.synonyms for t in tokens], share)
        self._variants = [t.variants for t in tokens]
        # Callers' words of the entries learned on (learned.py): a field of their own,
        # its BM25 statistics over those entries only (not diluted by the others).
        learned_terms = [self._paraphrase_tokens(d) for d in self.documents]
        self._paraphrased = np.fromiter(map(bool, learned_terms), bool, len(learned_terms))
        self._paraphrase_rows = np.flatnonzero(self._paraphrased)
        self._paraphrases = None
        if len(self._paraphrase_rows):
            self._paraphrases = Bm25Channel(
                [learned_terms[i] for i in self._paraphrase_rows], s.k1, s.b
            )
            # each term's best weight over those entries: the bound of a query's score
            self._paraphrase_bound = self._paraphrases.weights.max(axis=0).toarray().ravel()
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
        """The `top` best entries for `query`, best first; [] when nothing matches
        (also when the query is only question words: 怎么办, 的了吗)."""
        if not normalize(query) or not self.documents or top <= 0:
            return []
        pool, features = self.features(query, category=category, hotline=hotline)
        if not len(pool):
            return []
        ranker = self.learned.ranker
        logits = features @ np.asarray(ranker.coefficients) + ranker.intercept
        order = np.argsort(-logits, kind="stable")[:top]
        probabilities = 1 / (1 + np.exp(-logits[order]))
        return [
            self._hit(int(pool[j]), float(p)) for j, p in zip(order, probabilities, strict=True)
        ]

    def features(
        self, query: str, *, category: str | None = None, hotline: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pool of document positions, pool × FEATURES matrix) for `query`: each BM25
        feature divided by its best value over the allowed documents, the pool the
        best `candidates` entries by their sum. Also what the re-ranker is fitted on."""
        text = plain_normalize(query)
        tokens = char_tokens(text)
        allowed = self._allowed(category, hotline)
        channels = [
            self._all.scores(tokens),
            self._questions.scores(tokens),
            self._answer.scores(tokens),
            self._pinyin.scores(pinyin_tokens(text)),
            self._synonyms.scores(char_tokens(normalize(query))),
            self._all.weighted_scores(self._alias_terms(text)),
            self._all.weighted_scores(self._weighted_terms(tokens)),
        ]
        if allowed is not None:  # in place: the arrays are fresh
            for scores in channels:
                np.multiply(scores, allowed, out=scores)
        # Each channel divided by its best value, in place (the arrays are fresh) and
        # summed into one: at 50k entries the temporaries cost more than the arithmetic.
        for scores in channels:
            best = float(scores.max())
            if best > 0:
                np.divide(scores, best, out=scores)
        # The pool: the best entries by the sum of all channels. By the backbone alone,
        # some right answers found only through synonyms or aliases fell out of it.
        combined = channels[0].copy()
        for scores in channels[1:]:
            combined += scores
        pool = self._pool(combined)
        columns = [scores[pool] for scores in channels]
        columns.append(self._similarities(text.replace(" ", ""), pool))
        columns.append(self._paraphrase_scores(tokens, allowed)[pool])
        columns.append(self._paraphrased[pool].astype(np.float64))
        return pool, np.stack(columns, axis=1) if len(pool) else np.zeros((0, len(columns)))

    def _pool(self, combined: np.ndarray) -> np.ndarray:
        """Positions of the best `candidates` entries by `combined` (> 0), best first."""
        wanted = self.settings.candidates
        floor = 0.0
        if len(combined) >= POOL_SAMPLE * 8:
            # The `wanted`-th best of a strided sample is at most the `wanted`-th best
            # of all, so nothing below it can be in the pool: at 50k entries this
            # leaves a few hundred to partition instead of most of the index.
            sample = combined[:: len(combined) // POOL_SAMPLE]
            floor = float(np.partition(sample, len(sample) - wanted)[len(sample) - wanted])
        matched = np.flatnonzero(combined >= floor if floor > 0 else combined > 0)
        if len(matched) > wanted:
            matched = matched[np.argpartition(-combined[matched], wanted - 1)[:wanted]]
        # Ties and order inside the pool do not matter: the re-ranker orders it.
        return matched[np.argsort(-combined[matched], kind="stable")]

    def _paraphrase_tokens(self, document: SearchDocument) -> list[str]:
        """The learned callers' terms of `document`, each repeated by its count; none
        unless both its external id and its title are the ones learned on."""
        entry = self.learned.paraphrases.get(document.external_id)
        if entry is None or entry.title != document.content.title:
            return []
        return [term for term, n in entry.terms.items() for _ in range(n)]

    def _paraphrase_scores(self, tokens: list[str], allowed: np.ndarray | None) -> np.ndarray:
        """BM25 over the learned callers' terms, divided by the most the query could
        score there (the sum of its terms' best weights), not by the best entry's
        score: a weak match stays weak, so entries without learned terms (added later)
        are not outranked by whichever learned entry happens to match best. Kept out
        of the pool's sum: the pool is chosen the same for every entry."""
        channel = self._paraphrases
        if channel is None:
            return np.zeros(len(self.documents))
        terms = dict.fromkeys(tokens, 1.0)
        scores = np.zeros(len(self.documents))
        scores[self._paraphrase_rows] = channel.weighted_scores(terms)
        if allowed is not None:
            np.multiply(scores, allowed, out=scores)
        found = [channel.vocabulary[t] for t in terms if t in channel.vocabulary]
        bound = float(self._paraphrase_bound[found].sum()) if found else 0.0
        return scores / bound if bound > 0 else scores

    def _alias_terms(self, text: str) -> dict[str, float]:
        """Entry bigrams the query's bigrams stand for, with the strongest weight each."""
        terms: dict[str, float] = {}
        for bigram in set(char_bigrams(text)):
            for target, weight in self.learned.aliases.get(bigram, {}).items():
                terms[target] = max(terms.get(target, 0.0), weight)
        return terms

    def _weighted_terms(self, tokens: list[str]) -> dict[str, float]:
        """The query's own terms, each at its learned weight (fillers near 0)."""
        weights = self.learned.term_weights
        return {t: weights.get(t, 1.0) for t in tokens}

    def _similarities(self, query: str, pool: np.ndarray) -> np.ndarray:
        """rapidfuzz similarity of the query to each pool entry's closest title /
        question variant: (ratio + partial ratio) / 200, all variants in one C call."""
        if not len(pool):
            return np.zeros(0)
        variants = [self._variants[int(i)] for i in pool]
        flat = list(itertools.chain.from_iterable(variants))
        ratios = process.cdist([query], flat, scorer=fuzz.ratio, dtype=np.float64)[0]
        ratios += process.cdist([query], flat, scorer=fuzz.partial_ratio, dtype=np.float64)[0]
        starts = np.cumsum([0] + [len(v) for v in variants[:-1]])
        return np.maximum.reduceat(ratios, starts) / 200

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
