"""The learned pair similarity (dispatch/duplicate_pairs.py), leave-one-set-out over
every labelled duplicate set we have, written by several people.

    .venv/bin/python -m benchmarks.duplicates.bench_loso [--write-model] [--max-false 0.06]

Sets: the dev sets in `data/` (dev, dev2, dev3, dev4: one writing style; dev5: the
train6 writer, 110 groups, half of them near-miss pairs), the retired
blind sets (benchmarks/blind, blind2 ... blind6: other writers). For each held-out
set the logistic regression is fitted on the pairs of the others; its thresholds come
from the others too (each of them scored by a model fitted without it, so the choice is
made on out-of-set scores), the lowest `suggest` threshold whose false pairs over all of
them stay <= --max-false (MAX_FALSE) and the lowest `certain` one whose precision is
>= --certain-precision.

Retrieval is the product's: each set's pool (its open orders, its background file, 600
synthetic orders) is held in a `DuplicateIndex`, whose shortlist for each request (the
orders sharing most rare-bigram mass with it) is what the model scores and learns from
(plus the request's duplicate when the shortlist misses it, for learning only).
recall = requests with a duplicate whose top order is it, at or above the threshold;
false pairs = requests whose top order at or above the threshold is not their duplicate,
over all requests (bench_duplicates' definitions). `--write-model` fits on all sets and
writes dispatch/data/duplicate_model.json with the thresholds chosen the same way.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from benchmarks.duplicates.bench_duplicates import build, default_settings, pairs_set, read_jsonl
from benchmarks.duplicates.synthetic import World
from dispatch.duplicate_pairs import (
    FEATURES,
    MODEL_FILE,
    WITH_VECTORS,
    PairModel,
    apart,
    pair_vector,
)
from dispatch.duplicate_vectors import ProblemVectors, read_texts
from dispatch.duplicate_vectors import build as build_vectors

DATA = Path(__file__).with_name("data")
# The budget is 0.10 false pairs on a set nobody fitted on. Until round 5 the threshold
# kept the false pairs of *every* training set <= 0.10: one set (dev2, near misses in
# the same building) then decided it alone (eight sets held out: 0.767 / 0.040, and
# with dev5 added blind2 came out at 0.147 false pairs). Now the false pairs pooled over
# the training sets, with a margin for a new writer: 0.05 is the largest budget at which
# no one of the nine held-out sets goes above 0.10 (0.06 gave blind2 0.16) -- chosen on
# the held-out rows themselves, so the next fresh set is the test of it. With blind5 and
# blind6 (eleven sets, round 7) blind2 comes out at 0.118, the others <= 0.086; 0.04
# brought blind2 to 0.103 at a pooled 0.843 / 0.042 (against 0.879 / 0.052), so the
# budget stayed.
MAX_FALSE = 0.05
BENCH = Path(__file__).parents[1]
BACKGROUND = 600
ROOT = Path(__file__).resolve().parents[2]
# ../shared from the main checkout, ../../shared from a worktree (/work/wt/<name>)
TIPDM = next(
    (
        p / "shared/data/tipdm2020"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared/data/tipdm2020").is_dir()
    ),
    ROOT.parent / "shared/data/tipdm2020",
)
TIPDM_FILES = ("unlabelled.jsonl", "replies.jsonl", "labelled.jsonl")


def load_sets() -> dict[str, tuple[list[dict], list[dict]]]:
    """name -> (open orders, requests), in bench_duplicates' shapes."""
    sets = {
        "dev": (read_jsonl(DATA / "dup_dev_orders.jsonl"), read_jsonl(DATA / "dup_dev_new.jsonl"))
    }
    for name in ("dev2", "dev3", "dev4", "dev5"):
        sets[name] = pairs_set(read_jsonl(DATA / f"dup_{name}_pairs.jsonl"), [])
    sets["blind1"] = (
        read_jsonl(BENCH / "blind/dup_blind_orders.jsonl"),
        read_jsonl(BENCH / "blind/dup_blind_new.jsonl"),
    )
    for name in ("blind2", "blind3", "blind4", "blind5", "blind6"):
        sets[name] = pairs_set(
            read_jsonl(BENCH / name / "dup_pairs.jsonl"),
            read_jsonl(BENCH / name / "dup_background.jsonl"),
        )
    return sets


class Scored:
    """One set's requests, each with its shortlist's ids and feature rows."""

    def __init__(
        self, orders: list[dict], requests: list[dict], vectors: ProblemVectors | None
    ) -> None:
        pool = [*World(seed=11).orders(BACKGROUND), *orders]
        index = build(default_settings(), pool, vectors)
        self.expected: list[str | None] = []
        self.ids: list[list[str]] = []
        self.X: list[np.ndarray] = []
        self.missed = 0  # duplicates the shortlist does not hold
        self.apart = 0  # of them, those `apart` from the request (a rule lost them)
        self.extra: list[list[float]] = []  # positives the shortlists do not hold
        weight = index.weight()
        for q in requests:
            new = index.record(q["content"], q.get("address"), q.get("district"))
            orders, rows = index.pairs(new)
            expected = q.get("duplicate_of")
            expected = str(expected) if expected is not None else None
            ids = [order.number for order in orders]
            self.expected.append(expected)
            self.ids.append(ids)
            self.X.append(rows.reshape(len(ids), len(FEATURES)))
            self.missed += expected is not None and expected not in ids
            if expected is not None and expected not in ids and expected in index:
                self.extra.append(pair_vector(new, index.held(expected), weight))
                self.apart += apart(new, index.held(expected))
        # a repeat told in the very same words is a repeat too: each open order that has
        # one, against itself (no set has such a pair; without them the fit learns that
        # identical wording is suspicious, as paraphrases never are identical)
        for anchor in sorted({e for e in self.expected if e is not None and e in index}):
            held = index.held(anchor)
            self.extra.append(pair_vector(held, held, weight))

    def training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        X = [rows for rows in self.X if len(rows)]
        y = [
            np.asarray([i == expected for i in ids], dtype=int)
            for ids, expected in zip(self.ids, self.expected, strict=True)
            if ids
        ]
        if self.extra:
            X.append(np.asarray(self.extra))
            y.append(np.ones(len(self.extra), dtype=int))
        return np.vstack(X), np.concatenate(y)

    def tops(self, model: PairModel) -> list[tuple[str | None, str | None, float]]:
        """(expected, top order, its probability) per request."""
        out = []
        for rows, ids, expected in zip(self.X, self.ids, self.expected, strict=True):
            if not ids:
                out.append((expected, None, 0.0))
                continue
            p = probabilities(model, rows)
            top = int(np.argmax(p))
            out.append((expected, ids[top], float(p[top])))
        return out


def probabilities(model: PairModel, rows: np.ndarray) -> np.ndarray:
    z = (rows - np.asarray(model.means)) / np.asarray(model.scales) @ np.asarray(
        model.coefficients
    ) + model.intercept
    return 1 / (1 + np.exp(-np.clip(z, -30, 30)))


# The sign each weight may take: more agreement never lowers the probability, a
# conflict never raises it (an unconstrained fit gave identical texts 0.6: paraphrases
# are never identical, so it had learned that too much word overlap is suspicious).
AGAINST = frozenset({"kinds_other", "place_x_kinds_other", "side_other", "name_other"})
EITHER = frozenset(FEATURES) - AGAINST


def fit(scored: list[Scored], c: float, with_vectors: bool) -> PairModel:
    """The logistic regression (L2, 1/c) on the sets' shortlists, weights signed as
    AGAINST / EITHER say; without vectors the features that need them get no weight."""
    parts = [s.training_rows() for s in scored]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    used = np.asarray([with_vectors or name not in WITH_VECTORS for name in FEATURES])
    means, scales = X.mean(axis=0), X.std(axis=0)
    scales[scales == 0] = 1.0
    means[~used], scales[~used] = 0.0, 1.0
    Z = (X - means) / scales
    signs = [
        (0.0, 0.0) if not use else (None, 0.0) if name in AGAINST else
        (None, None) if name in EITHER else (0.0, None)
        for name, use in zip(FEATURES, used, strict=True)
    ]  # fmt: skip

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Z @ w[:-1] + w[-1]
        p = expit(z)
        nll = np.logaddexp(0, z).sum() - y @ z
        grad = Z.T @ (p - y)
        value = nll + 0.5 / c * w[:-1] @ w[:-1]
        return value, np.append(grad + w[:-1] / c, (p - y).sum())

    start = np.zeros(len(FEATURES) + 1)
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[*signs, (None, None)])
    return PairModel(
        tuple(found.x[:-1].tolist()),
        float(found.x[-1]),
        tuple(means.tolist()),
        tuple(scales.tolist()),
    )


def figures(tops: list[tuple], threshold: float) -> dict:
    n = len(tops)
    repeats = sum(e is not None for e, _, _ in tops)
    hit = sum(e is not None and t == e and p >= threshold for e, t, p in tops)
    false = sum(p >= threshold and t != e for e, t, p in tops)
    shown = sum(p >= threshold for _, _, p in tops)
    return {
        "n": n,
        "repeats": repeats,
        "recall": round(hit / max(repeats, 1), 3),
        "false_pairs": round(false / max(n, 1), 3),
        "precision": round(hit / shown, 3) if shown else None,
        "_hit": hit,
        "_false": false,
    }


def choose(
    tops: dict[str, list[tuple]], max_false: float, min_precision: float, every: bool = False
) -> tuple[float, float]:
    """(suggest, certain) thresholds chosen on out-of-set scores: the lowest at which the
    false pairs over all sets (with `every`: of every set) stay <= max_false, and the
    lowest from which certain's precision over all sets is >= min_precision."""
    pooled = [t for rows in tops.values() for t in rows]
    grid = sorted({round(p, 4) for _, _, p in pooled} | {0.5})
    if every:
        suggest = next(
            (
                t
                for t in grid
                if all(figures(rows, t)["false_pairs"] <= max_false for rows in tops.values())
            ),
            1.0,
        )
    else:
        suggest = next((t for t in grid if figures(pooled, t)["false_pairs"] <= max_false), 1.0)
    certain = next(
        (
            t
            for t in grid
            if t >= suggest and (figures(pooled, t)["precision"] or 0) >= min_precision
        ),
        1.0,
    )
    return suggest, certain


def out_of_set_tops(
    scored: dict[str, Scored], c: float, with_vectors: bool
) -> dict[str, list[tuple]]:
    return {
        name: s.tops(fit([v for k, v in scored.items() if k != name], c, with_vectors))
        for name, s in scored.items()
    }


def fitted(scored: dict[str, Scored], args: argparse.Namespace, with_vectors: bool) -> PairModel:
    """Fitted on `scored`, with the thresholds chosen on its out-of-set scores."""
    suggest, certain = choose(
        out_of_set_tops(scored, args.C, with_vectors),
        args.max_false,
        args.certain_precision,
        args.every_set,
    )
    model = fit(list(scored.values()), args.C, with_vectors)
    return replace(model, suggest=suggest, certain=certain)


def problem_vectors() -> ProblemVectors | None:
    """The configured vectors; built from the TipDM messages when missing and found."""
    path = default_settings().duplicate_vectors_path
    if path is not None and path.exists():
        return ProblemVectors.load(path)
    if not TIPDM.exists():
        return None
    vectors = build_vectors(read_texts(TIPDM / name for name in TIPDM_FILES))
    if path is not None:
        vectors.save(path)
    return ProblemVectors.load(path) if path is not None else vectors


def where_lost(s: Scored, tops: list[tuple], threshold: float) -> dict[str, int]:
    """Each repeat of a held-out set by what became of it: found, its order the top one
    but below the threshold, another order on top, or never shortlisted (by `apart`, or
    by shared mass); and the near misses suggested."""
    found = {"hit": 0, "below": 0, "outranked": 0, "not_shortlisted": 0, "near_miss_shown": 0}
    for (expected, top, p), ids in zip(tops, s.ids, strict=True):
        if expected is None:
            found["near_miss_shown"] += p >= threshold
        elif expected not in ids:
            found["not_shortlisted"] += 1
        elif top != expected:
            found["outranked"] += 1
        else:
            found["hit" if p >= threshold else "below"] += 1
    found["of_them_apart"] = s.apart
    return found


def report(scored: dict[str, Scored], args: argparse.Namespace, with_vectors: bool) -> None:
    pooled: dict[str, list[dict]] = {"suggest": [], "certain": []}
    held = args.only.split(",") if args.only else list(scored)
    for name in held:
        model = fitted({k: v for k, v in scored.items() if k != name}, args, with_vectors)
        tops = scored[name].tops(model)
        s, c = figures(tops, model.suggest), figures(tops, model.certain)
        pooled["suggest"].append(s)
        pooled["certain"].append(c)
        print(
            f"{name:7s} n={s['n']:3d} repeats={s['repeats']:3d}"
            f" thresholds {model.suggest:.3f}/{model.certain:.3f}"
            f"  suggest recall {s['recall']:.3f} false {s['false_pairs']:.3f}"
            f"  certain recall {c['recall']:.3f} false {c['false_pairs']:.3f}"
            f" precision {c['precision']}",
            flush=True,
        )
        if getattr(args, "where", False):
            print("   ", where_lost(scored[name], tops, model.suggest), flush=True)
    for level, rows in pooled.items():
        n, repeats = sum(f["n"] for f in rows), sum(f["repeats"] for f in rows)
        hit, false = sum(f["_hit"] for f in rows), sum(f["_false"] for f in rows)
        print(
            f"pooled {level}: n={n} repeats={repeats} recall {hit / repeats:.3f}"
            f" false pairs {false / n:.3f} precision {hit / max(hit + false, 1):.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-false", type=float, default=MAX_FALSE)
    parser.add_argument(
        "--every-set", action="store_true", help="--max-false on every set, not pooled"
    )
    parser.add_argument("--certain-precision", type=float, default=0.97)
    parser.add_argument("-C", type=float, default=1.0)
    parser.add_argument("--write-model", action="store_true")
    parser.add_argument("--only", help="comma-separated held-out sets")
    parser.add_argument("--where", action="store_true", help="where each set's repeats are lost")
    parser.add_argument("--variant", choices=["with", "without", "both"], default="both")
    args = parser.parse_args(argv)
    vectors = problem_vectors()
    scored = {name: Scored(*pair, vectors) for name, pair in load_sets().items()}
    for name, s in scored.items():
        print(f"{name}: duplicates missing from the shortlist {s.missed}", flush=True)
    variants = {"with": [True], "without": [False], "both": [True, False]}[args.variant]
    if vectors is None:
        variants = [False]
    for with_vectors in variants:
        print("with problem vectors" if with_vectors else "without problem vectors")
        report(scored, args, with_vectors)
    if args.write_model:
        data = {}
        for with_vectors in (True, False):
            model = fitted(scored, args, with_vectors)
            key = "with_vectors" if with_vectors else "without_vectors"
            data[key] = model.as_json()
            weights = np.round(model.coefficients, 2).tolist()
            print(key, dict(zip(FEATURES, weights, strict=True)), model.suggest, model.certain)
        MODEL_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
