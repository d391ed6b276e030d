"""Short spoken requests: the model trained on all 495 TipDM rows (as the outside
evaluation trains it) scored on the project's phone-style sets.

    .venv/bin/python benchmarks/classifiers/bench_phone.py

For each set: accuracy, macro-F1, how many errors went to 城乡建设 (the prior pull the
outside evaluation found), and coverage / accuracy of the top-1 suggestion above
confidence thresholds (what 智能派单 would do). Sets: phone_style.jsonl (163, informed the
first keyword list), phone_dev.jsonl (123, informed the second), phone_holdout.jsonl (70,
written with phone_dev, never used for a choice), and dev/category_dev.jsonl (105, 15
per label, written for issue 13's second round before any change; the tuning set), and
dev/category_dev2.jsonl (98, written for the third round before any run on it). The
model is trained as the CLI trains it (labelled.jsonl plus one round of self-training on
the sibling unlabelled.jsonl).
"""

from __future__ import annotations

import json

from common import OWN_DATA, ROOT, require_data

from classifiers import evaluate, read_records, train

SETS = {
    name: OWN_DATA / f"{name}.jsonl" for name in ("phone_style", "phone_dev", "phone_holdout")
} | {
    name: ROOT / "benchmarks" / "classifiers" / "dev" / f"{name}.jsonl"
    for name in ("category_dev", "category_dev2")
}
URBAN = "城乡建设"


def confidence_table(model, records) -> dict:
    tops = model.predict_many([(r.text, r.title) for r in records], k=1)
    rows = [
        (top[0][1], top[0][0] == r.value("label")) for top, r in zip(tops, records, strict=True)
    ]
    table = {}
    for threshold in (0.5, 0.7, 0.9):
        kept = [ok for p, ok in rows if p >= threshold]
        table[str(threshold)] = [
            round(len(kept) / len(rows), 3),
            round(sum(kept) / len(kept), 3) if kept else None,
        ]
    return table


def main() -> None:
    data = require_data()
    model = train(  # as the CLI trains: with one round of self-training
        read_records(data / "labelled.jsonl"),
        taxonomy=data / "taxonomy.jsonl",
        cv_folds=0,
        unlabelled=read_records(data / "unlabelled.jsonl"),
    )
    report = {}
    for name, path in SETS.items():
        if not path.is_file():
            continue
        records = read_records(path)
        result = evaluate(model, records, "label")
        tops = model.predict_many([(r.text, r.title) for r in records], k=1)
        to_urban = sum(
            top[0][0] == URBAN != r.value("label") for top, r in zip(tops, records, strict=True)
        )
        report[name] = {
            "n": result["n"],
            "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "errors_to_urban": to_urban,
            "coverage_accuracy_at": confidence_table(model, records),
        }
    report["tries"] = {
        text: model.predict(text, k=1)[0]
        for text in ("燃气泄漏", "打架受伤", "学校周边三无零食", "饭店不给开发票")
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
