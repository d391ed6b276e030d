"""The learned pair similarity (dispatch/duplicate_pairs.py), leave-one-set-out over
every labelled duplicate set we have, written by several people.

    .venv/bin/python -m benchmarks.duplicates.bench_loso [--write-model] [--max-false 0.08]

Sets: the dev sets in `data/` (dev, dev2, dev3, dev4: one writing style), the retired
blind sets (benchmarks/blind, blind2, blind3: three other writers). For each held-out
set the logistic regression is fitted on the pairs of the others; its thresholds come
from the others too (each of them scored by a model fitted without it, so the choice is
made on out-of-set scores), the lowest `suggest` threshold whose pooled false pairs stay
<= --max-false and the lowest `certain` one whose precision is >= --certain-precision.

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
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks.duplicates.bench_duplicates import pairs_set, read_jsonl
from benchmarks.duplicates.synthetic import World
from benchmarks.duplicates.bench_duplicates import build, default_settings
from dispatch.duplicate_pairs import FEATURES, MODEL_FILE, PairModel, pair_vector, record

DATA = Path(__file__).with_name("data")
BENCH = Path(__file__).parents[1]
BACKGROUND = 600


def load_sets() -> dict[str, tuple[list[dict], list[dict]]]:
    """name -> (open orders, requests), in bench_duplicates' shapes."""
    sets = {
        "dev": (read_jsonl(DATA / "dup_dev_orders.jsonl"), read_jsonl(DATA / "dup_dev_new.jsonl"))
    }
    for name in ("dev2", "dev3", "dev4"):
        sets[name] = pairs_set(read_jsonl(DATA / f"dup_{name}_pairs.jsonl"), [])
    sets["blind1"] = (
        read_jsonl(BENCH / "blind/dup_blind_orders.jsonl"),
        read_jsonl(BENCH / "blind/dup_blind_new.jsonl"),
    )
    for name in ("blind2", "blind3"):
        sets[name] = pairs_set(
            read_jsonl(BENCH / name / "dup_pairs.jsonl"),
            read_jsonl(BENCH / name / "dup_background.jsonl"),
        )
    return sets


class Scored:
    """One set's requests, each with its shortlist's ids and feature rows."""

    def __init__(self, orders: list[dict], requests: list[dict]) -> None:
        index = build(default_settings(), [*World(seed=11).orders(BACKGROUND), *orders])
        self.expected: list[str | None] = []
        self.ids: list[list[str]] = []
        self.X: list[np.ndarray] = []
        self.missed = 0  # duplicates the shortlist does not hold
        weight = index.weight()
        for q in requests:
            new = record(q["content"], q.get("address"), q.get("district"))
            pairs = index.pairs(new)
            expected = q.get("duplicate_of")
            expected = str(expected) if expected is not None else None
            ids = [order.number for order, _ in pairs]
            rows = [vector for _, vector in pairs]
            self.expected.append(expected)
            self.ids.append(ids)
            self.X.append(np.asarray(rows).reshape(len(rows), len(FEATURES)))
            self.missed += expected is not None and expected not in ids
            if expected is not None and expected not in ids and expected in index:
                held = index._orders[expected].features
                self.extra = getattr(self, "extra", [])
                self.extra.append(pair_vector(new, held, weight))

    def training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        X = [rows for rows in self.X if len(rows)]
        y = [
            np.asarray([i == expected for i in ids], dtype=int)
            for ids, expected in zip(self.ids, self.expected, strict=True)
            if ids
        ]
        extra = getattr(self, "extra", [])
        if extra:
            X.append(np.asarray(extra))
            y.append(np.ones(len(extra), dtype=int))
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


def fit(scored: list[Scored], c: float) -> PairModel:
    parts = [s.training_rows() for s in scored]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    means, scales = X.mean(axis=0), X.std(axis=0)
    scales[scales == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=5000)
    lr.fit((X - means) / scales, y)
    return PairModel(
        tuple(lr.coef_[0].tolist()), float(lr.intercept_[0]), tuple(means), tuple(scales)
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


def choose(tops: list[tuple], max_false: float, min_precision: float) -> tuple[float, float]:
    """(suggest, certain) thresholds chosen on `tops` (out-of-set scores)."""
    grid = sorted({round(p, 4) for _, _, p in tops} | {0.5})
    suggest = next((t for t in grid if figures(tops, t)["false_pairs"] <= max_false), 1.0)
    certain = next(
        (t for t in grid if t >= suggest and (figures(tops, t)["precision"] or 0) >= min_precision),
        1.0,
    )
    return suggest, certain


def out_of_set_tops(scored: dict[str, Scored], c: float) -> list[tuple]:
    tops = []
    for name, s in scored.items():
        model = fit([v for k, v in scored.items() if k != name], c)
        tops += s.tops(model)
    return tops


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-false", type=float, default=0.08)
    parser.add_argument("--certain-precision", type=float, default=0.97)
    parser.add_argument("-C", type=float, default=1.0)
    parser.add_argument("--write-model", action="store_true")
    parser.add_argument("--only", help="comma-separated held-out sets")
    args = parser.parse_args(argv)
    scored = {name: Scored(*pair) for name, pair in load_sets().items()}
    for name, s in scored.items():
        print(f"{name}: duplicates missing from the shortlist {s.missed}", flush=True)
    pooled_s, pooled_c = [], []
    held = args.only.split(",") if args.only else list(scored)
    for name in held:
        train = {k: v for k, v in scored.items() if k != name}
        suggest, certain = choose(
            out_of_set_tops(train, args.C), args.max_false, args.certain_precision
        )
        tops = scored[name].tops(fit(list(train.values()), args.C))
        s, c = figures(tops, suggest), figures(tops, certain)
        pooled_s.append(s)
        pooled_c.append(c)
        print(
            f"{name:7s} n={s['n']:3d} repeats={s['repeats']:3d} thresholds {suggest:.3f}/{certain:.3f}"
            f"  suggest recall {s['recall']:.3f} false {s['false_pairs']:.3f}"
            f"  certain recall {c['recall']:.3f} false {c['false_pairs']:.3f} precision {c['precision']}",
            flush=True,
        )
    n = sum(f["n"] for f in pooled_s)
    repeats = sum(f["repeats"] for f in pooled_s)
    for level, pooled in (("suggest", pooled_s), ("certain", pooled_c)):
        hit, false = sum(f["_hit"] for f in pooled), sum(f["_false"] for f in pooled)
        print(
            f"pooled {level}: n={n} repeats={repeats} recall {hit / repeats:.3f}"
            f" false pairs {false / n:.3f} precision {hit / max(hit + false, 1):.3f}"
        )
    if args.write_model:
        suggest, certain = choose(
            out_of_set_tops(scored, args.C), args.max_false, args.certain_precision
        )
        model = fit(list(scored.values()), args.C)
        data = model.as_json() | {"suggest": suggest, "certain": certain}
        MODEL_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(
            "written",
            MODEL_FILE,
            json.dumps(dict(zip(FEATURES, np.round(model.coefficients, 2).tolist(), strict=True))),
            suggest,
            certain,
        )


if __name__ == "__main__":
    main()
