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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge_base.domain import SearchDocument
from knowledge_base.learned import FEATURES, AliasTable, Learned, Ranker, TermWeights
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
    bigram's pairs whose entry holds the target, minus the target's share of entries."""
    bigrams = {d.external_id: set(char_bigrams(_text(d))) for d in documents}
    document_frequency = Counter(b for entry in bigrams.values() for b in entry)
    n_documents = len(documents)
    gap_pairs: Counter[str] = Counter()
    linked: dict[str, Counter[str]] = defaultdict(Counter)
    entries: dict[tuple[str, str], set[str]] = defaultdict(set)
    for query, expected in pairs:
        entry = bigrams.get(expected)
        if entry is None:
            continue
        for gap in set(char_bigrams(plain_normalize(query))) - entry:
            gap_pairs[gap] += 1
            linked[gap].update(entry)
            for target in entry:
                entries[gap, target].add(expected)
    table: AliasTable = {}
    for gap, targets in linked.items():
        strengths = {}
        for target, count in targets.items():
            if count < min_pairs or len(entries[gap, target]) < min_entries:
                continue
            strength = count / gap_pairs[gap] - document_frequency[target] / n_documents
            if strength > margin:
                strengths[target] = strength
        if strengths:
            best = sorted(strengths.items(), key=lambda item: (-item[1], item[0]))[:per_term]
            table[gap] = dict(best)
    return table


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
    """Aliases and term weights from all `sets`; the re-ranker fitted on each set's
    queries with aliases and weights learned from the other sets only, so that those
    features look to it as they will on unseen queries (not inflated by the query's
    own pair)."""
    untrained = Ranker((0.0,) * len(FEATURES), 0.0)
    rows, labels = [], []
    for name, pairs in sets.items():
        others = [p for other, ps in sets.items() if other != name for p in ps]
        partial = Learned(
            untrained, mine_aliases(others, documents), learn_term_weights(others, documents)
        )
        x, y = ranker_examples(SearchIndex(documents, learned=partial), pairs)
        rows.append(x)
        labels.append(y)
    all_pairs = [p for ps in sets.values() for p in ps]
    return Learned(
        fit_ranker(np.concatenate(rows), np.concatenate(labels)),
        mine_aliases(all_pairs, documents),
        learn_term_weights(all_pairs, documents),
    )
