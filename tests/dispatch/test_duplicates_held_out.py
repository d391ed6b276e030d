"""Floors for duplicate detection (并单) on held-out data only: each labelled set is
scored by a pair model fitted (and its thresholds chosen) on the other sets, as
benchmarks/duplicates/bench_loso.py reports it (RESULTS.md). The dev sets share one
writing style; blind1-6 were written by other evaluators."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.duplicates.bench_loso import (
    MAX_FALSE,
    Scored,
    figures,
    fitted,
    load_sets,
    problem_vectors,
)

ARGS = argparse.Namespace(C=1.0, max_false=MAX_FALSE, certain_precision=0.97, every_set=False)


@pytest.fixture(scope="module")
def held_out() -> tuple[bool, dict[str, tuple[dict, dict]]]:
    """set -> (suggest figures, certain figures), each from a model not fitted on it."""
    vectors = problem_vectors()
    scored = {name: Scored(*pair, vectors) for name, pair in load_sets().items()}
    found = {}
    for name, s in scored.items():
        others = {k: v for k, v in scored.items() if k != name}
        model = fitted(others, ARGS, vectors is not None)
        tops = s.tops(model)
        found[name] = (figures(tops, model.suggest), figures(tops, model.certain))
    return vectors is not None, found


def _pooled(rows: list[dict]) -> tuple[float, float, float]:
    hit, false = sum(r["_hit"] for r in rows), sum(r["_false"] for r in rows)
    repeats, n = sum(r["repeats"] for r in rows), sum(r["n"] for r in rows)
    return hit / repeats, false / n, hit / max(hit + false, 1)


def test_pooled_over_all_held_out_sets(held_out):
    with_vectors, found = held_out
    recall, false, _ = _pooled([s for s, _ in found.values()])
    # eleven sets: measured 0.893 / 0.053 with the problem vectors, 0.876 / 0.049
    # without (nine sets, round 6: 0.845 / 0.052; eight sets: 0.767 / 0.040 when every
    # set's false pairs had to stay <= 0.10)
    assert recall >= (0.86 if with_vectors else 0.84)
    assert false <= 0.06


def test_each_held_out_set_keeps_false_pairs_near_the_limit(held_out):
    _, found = held_out
    for name, (suggest, _) in found.items():
        assert suggest["false_pairs"] <= 0.12, name


def test_outside_writers(held_out):
    """blind2-6: the wordings the lexicon scorer failed on (blind2-4: 0.37, 0.40 and
    0.48), and two later writers."""
    with_vectors, found = held_out
    sets = ("blind2", "blind3", "blind4", "blind5", "blind6")
    recall, false, _ = _pooled([found[name][0] for name in sets])
    # measured 0.848 / 0.066 with the problem vectors, 0.828 / 0.063 without (blind2-4
    # alone, nine sets: 0.729 / 0.072 and 0.686 / 0.072)
    assert recall >= (0.81 if with_vectors else 0.79)
    assert false <= 0.10


def test_certain_merges_are_precise(held_out):
    _, found = held_out
    recall, false, precision = _pooled([c for _, c in found.values()])
    # eleven sets: measured 0.544 / 0.011 / 0.962 with the problem vectors, 0.537 / 0.008
    # / 0.974 without (round 6's model on them: 0.447 / 0.009 / 0.964); the product asks
    # more of a certain pair than this (both addresses, the same place: CERTAIN_PLACE)
    assert precision >= 0.95 and false <= 0.012 and recall >= 0.45
