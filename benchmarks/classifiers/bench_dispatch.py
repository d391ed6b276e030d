"""How ``[classifiers] auto_dispatch_confidence`` (智能派单) is chosen: precision of the
top-1 category at or above a confidence, on held-out data only.

    .venv/bin/python benchmarks/classifiers/bench_dispatch.py

Sets: each writer of the short-request corpus (classifiers/data/phone_corpus.jsonl:
the project's round-one and dev sets, blind, blind2, blind3), scored by a model trained
as the CLI trains (labelled.jsonl, self-training, the corpus rows of the *other*
writers; bench_corpus.py), and the TipDM test split (model trained on train.jsonl plus
the whole corpus). The threshold printed is the lowest on the grid at which every set's
precision is >= 0.95 there and at every higher grid point; below it the suggestion
stays a proposal for the dispatcher. The held-out accuracy of each set is printed
first (the figures of bench_corpus.py for the default settings).
"""

from __future__ import annotations

from bench_corpus import held_out_scores, scored, split_model
from common import require_data

from classifiers import read_records
from classifiers.model import ModelSettings
from classifiers.training import load_phone_corpus

TARGET = 0.95
GRID = [round(0.8 + 0.01 * i, 2) for i in range(20)]


def main() -> None:
    data = require_data()
    settings = ModelSettings()
    corpus = load_phone_corpus()
    unlabelled = read_records(data / "unlabelled.jsonl")  # as the CLI trains
    scored_sets: dict[str, list[tuple[float, bool]]] = {}
    for model, rows in held_out_scores(
        settings, True, corpus, read_records(data / "labelled.jsonl"), unlabelled, "dispatch"
    ):
        for writer, _, p, hit in scored(model, rows):
            scored_sets.setdefault(writer, []).append((p, hit))
    split = split_model(settings, True, corpus, read_records(data / "train.jsonl"), unlabelled)
    test = read_records(data / "test.jsonl")
    tops = split.predict_many([(r.text, r.title) for r in test], k=1)
    scored_sets["tipdm_test"] = [
        (top[0][1], top[0][0] == r.value("label")) for top, r in zip(tops, test, strict=True)
    ]
    scored_sets["pooled_writers"] = [
        row for name, rows in scored_sets.items() if name != "tipdm_test" for row in rows
    ]
    print(
        "accuracy (held out): "
        + "  ".join(
            f"{name} {sum(hit for _, hit in rows) / len(rows):.3f} (n={len(rows)})"
            for name, rows in scored_sets.items()
        )
    )
    ok_from = {}
    print("threshold  " + "  ".join(f"{name}: coverage/precision (wrong)" for name in scored_sets))
    for threshold in GRID:
        cells, ok = [], True
        for rows in scored_sets.values():
            kept = [hit for p, hit in rows if p >= threshold]
            precision = sum(kept) / len(kept) if kept else 1.0
            ok &= precision >= TARGET
            cells.append(f"{len(kept) / len(rows):.2f}/{precision:.3f} ({len(kept) - sum(kept)})")
        ok_from[threshold] = ok
        print(f"{threshold:.2f}  " + "  ".join(cells))
    chosen = next((t for t in GRID if all(ok_from[u] for u in GRID if u >= t)), None)
    print(f"lowest threshold with precision >= {TARGET} on every set from there on: {chosen}")


if __name__ == "__main__":
    main()
