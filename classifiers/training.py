"""Use cases: train a model from records and evaluate it (no argument parsing here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from .dataset import Record
from .exceptions import TrainingError
from .keywords import Lexicon, load_keywords, load_taxonomy, merge_lexicons
from .model import FORMAT_VERSION, ModelSettings, TextClassifier, build_pipeline, new_version
from .text import build_document

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def build_lexicon(taxonomy: Path | None, use_keywords: bool = True) -> Lexicon:
    """Catalogue lexicon: taxonomy names (if given) plus the shipped keyword list."""
    parts = []
    if taxonomy is not None:
        parts.append(load_taxonomy(taxonomy))
    if use_keywords:
        parts.append(load_keywords())
    return merge_lexicons(*parts)


def fit_pipeline(
    docs: Sequence[str],
    y: Sequence[str],
    lexicon: Lexicon,
    settings: ModelSettings,
    extra: Sequence[tuple[str, str]] = (),
):
    """Fit on ``docs``/``y`` plus ``extra`` (doc, label) pairs (e.g. title-only docs)."""
    docs = [*docs, *(d for d, _ in extra)]
    y = [*y, *(label for _, label in extra)]
    labels = sorted(set(y))
    if len(labels) < 2:
        raise TrainingError("训练数据至少需要两个不同的类别")
    pipeline = build_pipeline(labels, lexicon, settings)
    pipeline.fit(docs, y)
    return pipeline


def title_documents(records: Sequence[Record], field: str) -> list[tuple[str, str]]:
    """Title-only training documents: short like a phone request (settings.title_augment)."""
    return [
        (build_document(r.title), r.value(field)) for r in records if r.title and r.value(field)
    ]


def metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict:
    """{"n", "accuracy", "macro_f1", "per_label": {label: {precision, recall, f1, support}}}."""
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    per_label = {
        label: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro")), 4
        ),
        "per_label": per_label,
    }


def cross_validate(
    records: Sequence[Record],
    field: str,
    lexicon: Lexicon,
    settings: ModelSettings,
    folds: int = 5,
    seed: int = 0,
    progress: Progress = _quiet,
) -> dict | None:
    """Stratified k-fold accuracy / macro-F1 (mean and std); None if data too small."""
    records = [r for r in records if r.value(field)]
    y = np.asarray([r.value(field) for r in records])
    smallest = int(min(np.unique(y, return_counts=True)[1]))
    folds = min(folds, smallest)
    if folds < 2:
        return None
    docs = [build_document(r.text, r.title) for r in records]
    accs, f1s = [], []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        progress(f"交叉验证 第 {k}/{folds} 折")
        train_records = [records[i] for i in tr]
        extra = title_documents(train_records, field) if settings.title_augment else []
        pipe = fit_pipeline([docs[i] for i in tr], y[tr], lexicon, settings, extra)
        pred = pipe.predict([docs[i] for i in te])
        accs.append(accuracy_score(y[te], pred))
        f1s.append(f1_score(y[te], pred, average="macro"))
    return {
        "folds": folds,
        "accuracy_mean": round(float(np.mean(accs)), 4),
        "accuracy_std": round(float(np.std(accs)), 4),
        "macro_f1_mean": round(float(np.mean(f1s)), 4),
        "macro_f1_std": round(float(np.std(f1s)), 4),
    }


def train(
    records: Sequence[Record],
    field: str = "label",
    taxonomy: Path | None = None,
    use_keywords: bool = True,
    settings: ModelSettings | None = None,
    cv_folds: int = 5,
    data_hash: str | None = None,
    progress: Progress = _quiet,
) -> TextClassifier:
    """Fit a classifier for ``field`` and return it with metadata (CV metrics included)."""
    settings = settings or ModelSettings()
    usable = [r for r in records if r.value(field)]
    if not usable:
        raise TrainingError(f"没有记录包含字段 '{field}'")
    if len(usable) < len(records):
        progress(f"跳过 {len(records) - len(usable)} 条缺少 '{field}' 的记录")
    docs = [build_document(r.text, r.title) for r in usable]
    y = [r.value(field) for r in usable]
    lexicon = build_lexicon(taxonomy, use_keywords)
    progress(f"{len(docs)} 条记录, {len(set(y))} 个类别, 关键词 {len(lexicon)} 个")
    cv = None
    if cv_folds >= 2:
        cv = cross_validate(usable, field, lexicon, settings, cv_folds, progress=progress)
    progress("训练最终模型")
    extra = title_documents(usable, field) if settings.title_augment else []
    pipeline = fit_pipeline(docs, y, lexicon, settings, extra)
    version, created_at = new_version()
    metadata = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": created_at,
        "field": field,
        "labels": [str(label) for label in pipeline.classes_],
        "n_train": len(docs),
        "metrics": {"cross_validation": cv},
        "training_data_sha256": data_hash,
        "taxonomy": str(taxonomy) if taxonomy else None,
        "keywords": use_keywords,
        "settings": asdict(settings),
        "sklearn_version": sklearn.__version__,
    }
    progress("训练完成")
    return TextClassifier(pipeline=pipeline, metadata=metadata)


def evaluate(model: TextClassifier, records: Sequence[Record], field: str) -> dict:
    """Metrics of ``model`` on labelled ``records`` (records without the field skipped)."""
    usable = [r for r in records if r.value(field)]
    if not usable:
        raise TrainingError(f"评估数据中没有字段 '{field}'")
    tops = model.predict_many([(r.text, r.title) for r in usable], k=1)
    pred = [top[0][0] if top else "" for top in tops]
    return metrics([r.value(field) for r in usable], pred)
