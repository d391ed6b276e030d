"""Learning KB search's aliases, query-term weights and re-ranker from (query,
expected entry) pairs.

Used by `benchmarks/knowledge_base/bench_loso.py`, which measures it leave-one-set-out
and writes the shipped files (`learned.py`). Offline only: search never imports this
module (scikit-learn stays out of the request path).

Aliases: for each pair, the query's character bigrams that its expected entry does not
contain are "gaps"; a gap t is linked to an entry bigram u when u is in the expected
entry of at least `min_pairs` of t's pairs, those pairs point to at least
`min_entries` different entries (so a link is a term-level regularity, not one entry's
wording memorised), and u is there clearly more often than in a random entry.

Term weights: of the pairs whose query holds term t, the share whose expected entry
holds t too, above what a random entry would give (a relevance weight in the manner
of Robertson / Spärck Jones), shrunk towards 1 for terms seen in few queries.

Paraphrase terms: each entry's callers' character terms (document expansion). The
re-ranker is fitted with half the entries (alternating by fold) stripped of theirs,
so that it learns to rank entries without paraphrases too (new entries).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from knowledge_base.domain import SearchDocument
from knowledge_base.learned import (
    FEATURES,
    AliasTable,
    EntryParaphrases,
    Learned,
    ParaphraseTerms,
    Ranker,
    TermWeights,
)
from knowledge_base.search import SearchIndex
from knowledge_base.text import char_bigrams, char_tokens, plain_normalize

Pair = tuple[str, str]  # (query, expected external id)


def _text(document: SearchDocument) -> str:
    content = document.content
    return plain_normalize(" ".join((content.title, *content.questions, content.answer)))


def mine_aliases(
    pairs: Sequence[Pair],
    documents: Sequence[SearchDocument],
    *,
    min_pairs: int = 2,
    min_entries: int = 2,
    margin: float = 0.3,
    per_term: int = 5,
) -> AliasTable:
    """Caller bigram → {entry bigram: strength}; strength = share of the caller
    bigram's pairs whose entry holds the target, minus the target's share of entries.

    Counted with two sparse products instead of a counter per (gap, target): gaps ×
    entries (pairs per entry holding the gap) times entries × bigrams gives, for each
    gap and target, the pairs and (with the first matrix made 0/1) the distinct
    entries behind the link; 10× faster, so leave-one-writer-out runs in minutes."""
    ids = [d.external_id for d in documents]
    bigrams = {d.external_id: set(char_bigrams(_text(d))) for d in documents}
    row_of = {external_id: i for i, external_id in enumerate(ids)}
    vocabulary: dict[str, int] = {}
    entry_rows, entry_cols = [], []
    for i, external_id in enumerate(ids):
        for bigram in bigrams[external_id]:
            entry_rows.append(i)
            entry_cols.append(vocabulary.setdefault(bigram, len(vocabulary)))
    holds = _binary(entry_rows, entry_cols, (len(ids), len(vocabulary)))
    gaps: dict[str, int] = {}
    gap_rows, gap_cols = [], []
    for query, expected in pairs:
        entry = bigrams.get(expected)
        if entry is None:
            continue
        for gap in set(char_bigrams(plain_normalize(query))) - entry:
            gap_rows.append(row_of[expected])
            gap_cols.append(gaps.setdefault(gap, len(gaps)))
    if not gaps:
        return {}
    per_entry = _binary(gap_rows, gap_cols, (len(ids), len(gaps)))  # pairs per entry, gap
    gap_pairs = np.asarray(per_entry.sum(axis=0)).ravel()
    pair_counts = (per_entry.T @ holds).tocsr()
    per_entry.data[:] = 1.0
    entry_counts = (per_entry.T @ holds).tocsr()  # same sparsity as pair_counts
    document_frequency = np.asarray(holds.sum(axis=0)).ravel() / len(ids)
    targets_of = np.array(list(vocabulary), dtype=object)
    table: AliasTable = {}
    for gap, g in gaps.items():
        span = slice(pair_counts.indptr[g], pair_counts.indptr[g + 1])
        targets, counts = pair_counts.indices[span], pair_counts.data[span]
        n_entries = entry_counts.data[entry_counts.indptr[g] : entry_counts.indptr[g + 1]]
        kept = (counts >= min_pairs) & (n_entries >= min_entries)
        strength = counts[kept] / gap_pairs[g] - document_frequency[targets[kept]]
        linked = strength > margin
        if linked.any():
            found = zip(targets_of[targets[kept][linked]], strength[linked].tolist(), strict=True)
            best = sorted(found, key=lambda item: (-item[1], item[0]))[:per_term]
            table[gap] = dict(best)
    return table


def _binary(rows: list[int], cols: list[int], shape: tuple[int, int]) -> sparse.csr_matrix:
    """Counts of (row, col) occurrences as a float64 CSR matrix (exact for counts)."""
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def learn_term_weights(
    pairs: Sequence[Pair], documents: Sequence[SearchDocument], *, prior: float = 2.0
) -> TermWeights:
    """Query term → weight in [0, 1]: (share of its pairs whose entry holds it − its
    share of all entries) / (1 − that share), averaged with `prior` pseudo-pairs at 1."""
    terms = {d.external_id: set(char_tokens(_text(d))) for d in documents}
    document_frequency = Counter(t for entry in terms.values() for t in entry)
    n_documents = len(documents)
    seen: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for query, expected in pairs:
        entry = terms.get(expected)
        if entry is None:
            continue
        for term in set(char_tokens(plain_normalize(query))):
            seen[term] += 1
            found[term] += term in entry
    weights = {}
    for term, n in seen.items():
        background = document_frequency[term] / n_documents
        lift = (found[term] / n - background) / max(1 - background, 1e-6)
        weight = (n * max(lift, 0.0) + prior) / (n + prior)
        if weight < 0.995:
            weights[term] = weight
    return weights


def learn_paraphrase_terms(
    pairs: Sequence[Pair], documents: Sequence[SearchDocument]
) -> ParaphraseTerms:
    """External id -> the character terms of its pairs' queries, with their counts."""
    titles = {d.external_id: d.content.title for d in documents}
    counts: dict[str, Counter[str]] = {}
    for query, expected in pairs:
        if expected in titles:
            counts.setdefault(expected, Counter()).update(char_tokens(plain_normalize(query)))
    return {e: EntryParaphrases(titles[e], dict(c)) for e, c in counts.items()}


def _half(external_id: str) -> int:
    return zlib.crc32(external_id.encode("utf-8")) & 1


def ranker_examples(index: SearchIndex, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of every pool entry of every query, labelled 1 for the expected one."""
    positions = {d.external_id: i for i, d in enumerate(index.documents)}
    rows, labels = [], []
    for query, expected in pairs:
        pool, features = index.features(query)
        rows.append(features)
        labels.append(pool == positions.get(expected, -1))
    if not rows:
        return np.zeros((0, len(FEATURES))), np.zeros(0, dtype=bool)
    return np.concatenate(rows), np.concatenate(labels)


def fit_ranker(rows: np.ndarray, labels: np.ndarray, *, c: float = 1.0) -> Ranker:
    model = LogisticRegression(C=c, max_iter=2000).fit(rows, labels)
    return Ranker(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))


def learn(sets: dict[str, Sequence[Pair]], documents: Sequence[SearchDocument]) -> Learned:
    """Aliases, term weights and paraphrase terms from all `sets`; the re-ranker fitted
    on each set's queries with those learned from the other sets only, so that the
    features look to it as they will on unseen queries (not inflated by the query's
    own pair), and with one half of the entries (alternating) stripped of their
    paraphrase terms, as entries added after the learning will be."""
    untrained = Ranker((0.0,) * len(FEATURES), 0.0)
    rows, labels = [], []
    for fold, (name, pairs) in enumerate(sets.items()):
        others = [p for other, ps in sets.items() if other != name for p in ps]
        paraphrases = {
            e: terms
            for e, terms in learn_paraphrase_terms(others, documents).items()
            if _half(e) != fold % 2
        }
        partial = Learned(
            untrained,
            mine_aliases(others, documents),
            learn_term_weights(others, documents),
            paraphrases,
        )
        x, y = ranker_examples(SearchIndex(documents, learned=partial), pairs)
        rows.append(x)
        labels.append(y)
    all_pairs = [p for ps in sets.values() for p in ps]
    return Learned(
        fit_ranker(np.concatenate(rows), np.concatenate(labels)),
        mine_aliases(all_pairs, documents),
        learn_term_weights(all_pairs, documents),
        learn_paraphrase_terms(all_pairs, documents),
    )
