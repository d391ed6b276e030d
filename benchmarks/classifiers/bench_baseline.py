"""The issue's plain baseline: char 1-3-gram TF-IDF + LinearSVC on title + text.

    .venv/bin/python benchmarks/classifiers/bench_baseline.py

No normalisation, no keywords, no calibration; scored like the real model (fixed
split, 5-fold CV on labelled.jsonl with seed 0, phone-style set).
"""

from __future__ import annotations

import json

import numpy as np
from common import OWN_DATA, require_data
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC


def rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def doc(row):
    return (row.get("title", "") + "。" + row["text"]).strip("。")


def baseline():
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
        LinearSVC(random_state=0),
    )


def main() -> None:
    data = require_data()
    train, test = rows(data / "train.jsonl"), rows(data / "test.jsonl")
    labelled, phone = rows(data / "labelled.jsonl"), rows(OWN_DATA / "phone_style.jsonl")
    model = baseline().fit([doc(r) for r in train], [r["label"] for r in train])
    y = [r["label"] for r in test]
    pred = model.predict([doc(r) for r in test])
    phone_acc = accuracy_score([r["label"] for r in phone], model.predict([doc(r) for r in phone]))
    ys = np.array([r["label"] for r in labelled])
    accs, f1s = [], []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(ys)), ys):
        m = baseline().fit([doc(labelled[i]) for i in tr], ys[tr])
        p = m.predict([doc(labelled[i]) for i in te])
        accs.append(accuracy_score(ys[te], p))
        f1s.append(f1_score(ys[te], p, average="macro"))
    report = {
        "test_accuracy": round(accuracy_score(y, pred), 4),
        "test_macro_f1": round(f1_score(y, pred, average="macro"), 4),
        "cv5_accuracy": f"{np.mean(accs):.4f} ± {np.std(accs):.4f}",
        "cv5_macro_f1": f"{np.mean(f1s):.4f} ± {np.std(f1s):.4f}",
        "phone_style_accuracy": round(phone_acc, 4),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
