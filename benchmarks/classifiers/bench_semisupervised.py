"""Does the unlabelled TipDM data help?  (Measured: no; see RESULTS.md.)

    .venv/bin/python benchmarks/classifiers/bench_semisupervised.py

Variants on top of the default model, each scored on the fixed split, 5-fold CV on
labelled.jsonl (extras added to every training fold) and the phone-style set:
  weak-replies: replies.jsonl messages labelled by the department named in the
      government reply (教育局 -> 教育文体, 人社局 -> 劳动和社会保障, ...);
  self-train: unlabelled + replies messages the fold's model labels with p >= 0.9.
Messages whose title or first 50 characters also occur in labelled.jsonl are removed
from the extras first (40 of them), so no test message leaks in through its reply.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
from common import OWN_DATA, require_data
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from classifiers.dataset import read_records
from classifiers.model import ModelSettings, TextClassifier
from classifiers.text import build_document
from classifiers.training import build_lexicon, fit_pipeline, training_set

DEPARTMENT_RULES = (
    ("教育文体", r"教育局|教育体育局|教体局|教育阳光|文化旅游|文旅|体育局|文广"),
    (
        "劳动和社会保障",
        r"人力资源和社会保障|人社局|社保局|社会保险|医保|医疗保障|劳动监察|劳动保障",
    ),
    ("卫生计生", r"卫生健康|卫健|卫生和计划生育|卫计|卫生局|疾控|医院"),
    ("交通运输", r"交通运输局|交通局|运输管理|客运|出租车|公路局|邮政"),
    ("环境保护", r"生态环境|环保局|环境保护局|环境监察"),
    (
        "城乡建设",
        r"住房和城乡建设|住建|城乡规划|规划局|城管|自然资源和规划|房产局|市政|规建|城乡建设"
        r"|住房保障|公积金中心|自来水|供电|燃气",
    ),
    ("商贸旅游", r"商务局|市场监督管理|市场监管|工商|物价局|质监|旅游局"),
)


def department_label(reply: str) -> str | None:
    hits = Counter()
    for label, pattern in DEPARTMENT_RULES:
        hits[label] += len(re.findall(pattern, reply[:300]))
    (best, n), (_, second) = hits.most_common(2)
    return best if n > 0 and n > second else None


def load_extras(data_dir, labelled):
    seen = {r.title for r in labelled} | {r.text[:50] for r in labelled}

    def fresh(path):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r for r in rows if r["title"] not in seen and r["text"][:50] not in seen]

    replies, unlabelled = fresh(data_dir / "replies.jsonl"), fresh(data_dir / "unlabelled.jsonl")
    weak = [
        (build_document(r["text"], r["title"]), lab)
        for r in replies
        if (lab := department_label(r["reply"]))
    ]
    pool = [build_document(r["text"], r["title"]) for r in replies + unlabelled]
    return weak, pool


def fit(train_recs, lexicon, settings, weak, pool, mode):
    data = training_set(train_recs, "label", settings)
    first = len(train_recs)  # each extra document is its own group
    if mode == "weak-replies":
        for group, (doc, lab) in enumerate(weak, start=first):
            data.add(doc, lab, 1.0, group)
    pipe = fit_pipeline(data, lexicon, settings)
    if mode == "self-train":
        proba = TextClassifier(pipe).predict_proba_docs(pool)
        keep = proba.max(axis=1) >= 0.9
        labels = pipe.classes_[proba.argmax(axis=1)]
        first = len(data.docs)
        for group, (doc, lab, k) in enumerate(zip(pool, labels, keep, strict=True), start=first):
            if k:
                data.add(doc, lab, 1.0, group)
        pipe = fit_pipeline(data, lexicon, settings)
    return pipe


def score(pipe, recs):
    y = [r.value("label") for r in recs]
    pred = pipe.predict([build_document(r.text, r.title) for r in recs])
    return accuracy_score(y, pred), f1_score(y, pred, average="macro")


def main() -> None:
    data_dir = require_data()
    labelled = read_records(data_dir / "labelled.jsonl")
    train_recs, test_recs = (
        read_records(data_dir / "train.jsonl"),
        read_records(data_dir / "test.jsonl"),
    )
    phone = read_records(OWN_DATA / "phone_style.jsonl")
    weak, pool = load_extras(data_dir, labelled)
    print(f"weak-labelled replies: {len(weak)} {dict(Counter(lab for _, lab in weak))}")
    print(f"self-training pool: {len(pool)}")
    lexicon, settings = build_lexicon(data_dir / "taxonomy.jsonl"), ModelSettings()
    y = np.array([r.value("label") for r in labelled])
    print("| variant | test acc | test macro-F1 | CV acc | CV macro-F1 | phone acc |")
    print("|---|---|---|---|---|---|")
    for mode in ("none", "weak-replies", "self-train"):
        pipe = fit(train_recs, lexicon, settings, weak, pool, mode)
        acc, f1 = score(pipe, test_recs)
        phone_acc, _ = score(pipe, phone)
        accs, f1s = [], []
        splitter = StratifiedKFold(5, shuffle=True, random_state=0)
        for tr, te in splitter.split(np.zeros(len(y)), y):
            p = fit([labelled[i] for i in tr], lexicon, settings, weak, pool, mode)
            a, f = score(p, [labelled[i] for i in te])
            accs.append(a)
            f1s.append(f)
        print(
            f"| {mode} | {acc:.3f} | {f1:.3f} | {np.mean(accs):.3f} ± {np.std(accs):.3f} | "
            f"{np.mean(f1s):.3f} ± {np.std(f1s):.3f} | {phone_acc:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
