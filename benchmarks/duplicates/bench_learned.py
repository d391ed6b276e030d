"""A learned pair similarity for duplicates (issue 13 / 11), measured beside the
lexicon scorer in the same brute-force retrieval.

    .venv/bin/python -m benchmarks.duplicates.bench_learned [--eval NAME=PAIRS[:BACKGROUND]]...

Pair features: the lexicon scorer's place score and problem-kind agreement, its word
and bigram overlaps, plus signals that need no lexicon — character-bigram TF-IDF
cosine of the texts, fuzzy overlap of the normalised addresses (Chinese numbers as
digits, so 八栋二单元 meets 8-2), shared / conflicting numbers. A logistic regression
learns the weights from the dev sets in `data/` only: leave-one-set-out on them gives
the honest dev figure, then the model fitted on all dev sets is run on `--eval` sets.

Retrieval as in bench_duplicates: each set's open orders (the first record of each
group, the file's background orders if any, and 600 synthetic ones) are scored
against every request; the top order counts when its score (log-odds) is at least the
threshold. recall = requests with a duplicate whose top is it; false pairs = requests
whose top is not their duplicate, over all requests. The threshold is the lowest whose
false pairs on the training sets stay <= 0.05.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from benchmarks.duplicates.bench_duplicates import pairs_set, read_jsonl
from benchmarks.duplicates.synthetic import World
from dispatch.duplicates import _dice, features, kind_agreement, normalize_place, place_score

DATA = Path(__file__).with_name("data")
MAX_FALSE = 0.05
_NUMBER = re.compile(r"\d+")


def dev_sets() -> dict[str, tuple[list[dict], list[dict]]]:
    """name -> (open orders, requests) in bench_duplicates' shapes."""
    sets = {
        name: pairs_set(read_jsonl(DATA / f"dup_{name}_pairs.jsonl"), [])
        for name in ("dev2", "dev3", "dev4")
    }
    sets["dev"] = (
        read_jsonl(DATA / "dup_dev_orders.jsonl"),
        read_jsonl(DATA / "dup_dev_new.jsonl"),
    )
    return sets


def with_background(orders: list[dict], n: int) -> list[dict]:
    return [*World(seed=11).orders(n), *orders] if n else orders


class PairFeatures:
    """Feature rows for (request, order) pairs; idf from the texts it is fitted on."""

    def __init__(self, texts: list[str]) -> None:
        self.tfidf = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True)
        self.tfidf.fit([normalize_place(t) for t in texts])

    def prepare(self, records: list[dict]) -> list[dict]:
        out = []
        vectors = self.tfidf.transform([normalize_place(r["content"]) for r in records])
        for i, r in enumerate(records):
            address = normalize_place(r.get("address") or "")
            out.append(
                {
                    "f": features(r["content"], r.get("address") or None, r.get("district")),
                    "v": vectors[i],
                    "address": address,
                    "numbers": frozenset(_NUMBER.findall(address or normalize_place(r["content"]))),
                }
            )
        return out

    @staticmethod
    def row(a: dict, b: dict) -> list[float]:
        fa, fb = a["f"], b["f"]
        cosine = float(a["v"].multiply(b["v"]).sum())
        if a["address"] and b["address"]:
            address = fuzz.partial_ratio(a["address"], b["address"]) / 100
            address_ratio = fuzz.ratio(a["address"], b["address"]) / 100
        else:
            address = address_ratio = 0.0
        shared = bool(a["numbers"] & b["numbers"])
        conflict = bool(a["numbers"] and b["numbers"] and not shared)
        return [
            place_score(fa.place, fb.place),
            kind_agreement(fa.kinds, fb.kinds),
            _dice(fa.words, fb.words),
            _dice(fa.bigrams, fb.bigrams),
            cosine,
            address,
            address_ratio,
            float(shared),
            float(conflict),
        ]


def scored(model, pf: PairFeatures, orders: list[dict], requests: list[dict]) -> list[tuple]:
    """Per request: (expected id, top order id, top score: the model's log-odds)."""
    po, pr = pf.prepare(orders), pf.prepare(requests)
    out = []
    for r, p in zip(requests, pr, strict=True):
        X = np.asarray([pf.row(p, o) for o in po])
        prob = model.decision_function(X)
        top = int(np.argmax(prob))
        expected = r.get("duplicate_of")
        out.append((str(expected) if expected else None, str(orders[top]["id"]), float(prob[top])))
    return out


def figures(rows: list[tuple], threshold: float) -> dict:
    n = len(rows)
    with_dup = sum(e is not None for e, _, _ in rows)
    hit = sum(e is not None and t == e and p >= threshold for e, t, p in rows)
    false = sum(p >= threshold and t != e for e, t, p in rows)
    return {
        "n": n,
        "repeats": with_dup,
        "recall": round(hit / max(with_dup, 1), 3),
        "false_pairs": round(false / n, 3),
    }


def training_pairs(pf: PairFeatures, orders: list[dict], requests: list[dict]):
    """Every request against every open order of its set: the duplicate is the positive."""
    po, pr = pf.prepare(orders), pf.prepare(requests)
    X, y = [], []
    for r, p in zip(requests, pr, strict=True):
        for o, q in zip(orders, po, strict=True):
            X.append(pf.row(p, q))
            y.append(int(str(o["id"]) == str(r.get("duplicate_of"))))
    return X, y


def fit(sets: dict, background: int) -> tuple[LogisticRegression, PairFeatures, float]:
    texts = [r["content"] for o, q in sets.values() for r in itertools.chain(o, q)]
    pf = PairFeatures(texts + [r["content"] for r in World(seed=11).orders(background)])
    X, y = [], []
    for orders, requests in sets.values():
        a, b = training_pairs(pf, orders, requests)
        X += a
        y += b
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(X, y)
    rows = [
        row
        for orders, requests in sets.values()
        for row in scored(model, pf, with_background(orders, background), requests)
    ]
    grid = sorted({round(p, 3) for _, _, p in rows})
    threshold = next((t for t in grid if figures(rows, t)["false_pairs"] <= MAX_FALSE), grid[-1])
    return model, pf, float(threshold)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", action="append", default=[], help="NAME=PAIRS[:BACKGROUND]")
    parser.add_argument("--background", type=int, default=600)
    parser.add_argument("--no-loso", action="store_true")
    args = parser.parse_args()
    sets = dev_sets()
    if not args.no_loso:
        for held in sets:
            train = {k: v for k, v in sets.items() if k != held}
            model, pf, threshold = fit(train, args.background)
            orders, requests = sets[held]
            rows = scored(model, pf, with_background(orders, args.background), requests)
            print(f"held out {held}: threshold {threshold}", json.dumps(figures(rows, threshold)))
    model, pf, threshold = fit(sets, args.background)
    names = [
        "place",
        "kinds",
        "words",
        "bigrams",
        "cosine",
        "addr_partial",
        "addr_ratio",
        "num_shared",
        "num_conflict",
    ]
    print(
        "all dev sets: threshold",
        threshold,
        json.dumps(dict(zip(names, np.round(model.coef_[0], 2).tolist(), strict=True))),
    )
    for spec in args.eval:
        name, _, files = spec.partition("=")
        pairs_file, _, background_file = files.partition(":")
        background = read_jsonl(background_file) if background_file else []
        orders, requests = pairs_set(read_jsonl(pairs_file), background)
        rows = scored(model, pf, with_background(orders, args.background), requests)
        print(name, json.dumps(figures(rows, threshold)))


if __name__ == "__main__":
    main()
