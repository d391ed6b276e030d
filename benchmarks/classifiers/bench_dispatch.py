"""How ``[classifiers] auto_dispatch_confidence`` (智能派单) is chosen: precision of the
top-1 category at or above a confidence, on held-out sets only.

    .venv/bin/python benchmarks/classifiers/bench_dispatch.py

Sets: dev/category_dev.jsonl, dev/category_dev2.jsonl and phone_holdout.jsonl (models
trained as the CLI trains: labelled.jsonl plus self-training; the short-request prior
power was chosen on these, no threshold was) and the TipDM test split (model trained on
train.jsonl). The threshold printed is the lowest on the grid at which
every set's precision is >= 0.95 there and at every higher grid point; below it the
suggestion stays a proposal for the dispatcher.
"""

from __future__ import annotations

from common import DATA_DIR, OWN_DATA, ROOT, require_data

from classifiers import read_records, train

TARGET = 0.95
GRID = [round(0.8 + 0.01 * i, 2) for i in range(20)]


def main() -> None:
    data = require_data()
    taxonomy = DATA_DIR / "taxonomy.jsonl"
    unlabelled = read_records(data / "unlabelled.jsonl")  # as the CLI trains
    on_all = train(
        read_records(data / "labelled.jsonl"), taxonomy=taxonomy, cv_folds=0, unlabelled=unlabelled
    )
    on_train = train(
        read_records(data / "train.jsonl"), taxonomy=taxonomy, cv_folds=0, unlabelled=unlabelled
    )
    dev = ROOT / "benchmarks" / "classifiers" / "dev"
    sets = {
        "category_dev": (on_all, dev / "category_dev.jsonl"),
        "category_dev2": (on_all, dev / "category_dev2.jsonl"),
        "phone_holdout": (on_all, OWN_DATA / "phone_holdout.jsonl"),
        "tipdm_test": (on_train, data / "test.jsonl"),
    }
    scored = {}
    for name, (model, path) in sets.items():
        records = read_records(path)
        tops = model.predict_many([(r.text, r.title) for r in records], k=1)
        scored[name] = [
            (top[0][1], top[0][0] == r.value("label")) for top, r in zip(tops, records, strict=True)
        ]
    ok_from = {}
    print("threshold  " + "  ".join(f"{name}: coverage/precision (wrong)" for name in scored))
    for threshold in GRID:
        cells, ok = [], True
        for rows in scored.values():
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
