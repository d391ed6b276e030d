"""Use cases: train a model from records and evaluate it (no argument parsing here)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from .dataset import Record, read_records
from .exceptions import TrainingError
from .keywords import Lexicon, load_keywords, load_taxonomy, merge_lexicons
from .model import FORMAT_VERSION, ModelSettings, TextClassifier, build_pipeline, new_version
from .text import build_document, normalize

Progress = Callable[[str], None]

# Short phone-style requests with TipDM first-level labels, from the project's retired
# evaluation sets (benchmarks/classifiers/build_phone_corpus.py says which row came
# from where).
PHONE_CORPUS = Path(__file__).parent / "data" / "phone_corpus.jsonl"


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


@dataclass
class TrainingSet:
    """Documents with labels, weights and the message each one was cut from (groups)."""

    docs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    # rows whose label a person gave (False: pseudo-labelled by self-training)
    gold: list[bool] = field(default_factory=list)

    def add(self, doc: str, label: str, weight: float, group: int, gold: bool = True) -> None:
        self.docs.append(doc)
        self.labels.append(label)
        self.weights.append(weight)
        self.groups.append(group)
        self.gold.append(gold)


# Clause ends inside a message; fragments are re-joined up to settings.segment_chars.
_CLAUSE_END = re.compile(r"[。！？!?；;，,：:\n]+")


def message_segments(text: str | None, max_chars: int, limit: int) -> list[str]:
    """The first ``limit`` fragments of a message, each a few clauses and at most about
    ``max_chars`` characters: what a caller would say on the phone."""
    clauses = [c.strip() for c in _CLAUSE_END.split(normalize(text)) if c.strip()]
    segments: list[str] = []
    current = ""
    for clause in clauses:
        if current and len(current) + len(clause) + 1 > max_chars:
            segments.append(current)
            current = ""
            if len(segments) == limit:
                return segments
        current = f"{current}，{clause}" if current else clause[: max_chars * 2]
    if current and len(segments) < limit:
        segments.append(current)
    return segments


def training_set(records: Sequence[Record], field: str, settings: ModelSettings) -> TrainingSet:
    """Whole messages (weight 1), plus, per settings, their titles and their fragments.

    The training data are long web letters, the inputs of a hotline short spoken
    requests; titles and fragments teach the model the short evidence (RESULTS.md).
    A message's fragments share its weight (``segment_weight`` in total).
    """
    out = TrainingSet()
    for group, r in enumerate(records):
        label = r.value(field)
        if not label:
            continue
        out.add(build_document(r.text, r.title), label, 1.0, group)
        if settings.title_augment and r.title:
            out.add(build_document(r.title), label, 1.0, group)
        if settings.segment_weight > 0:
            parts = message_segments(r.text, settings.segment_chars, settings.segment_limit)
            for part in parts:
                out.add(part, label, settings.segment_weight / len(parts), group)
    return out


def load_phone_corpus(path: Path = PHONE_CORPUS) -> list[Record]:
    """The shipped supplementary corpus of short requests ``{"id", "text", "label",
    "source", "writer"}``."""
    return read_records(path, required=("text", "label"))


def matching_supplement(supplement: Sequence[Record], labels: Sequence[str]) -> list[Record]:
    """``supplement`` when its labels are exactly ``labels`` (the same taxonomy), else
    []: a model trained on other labels must not learn these."""
    if not supplement or {r.value("label") for r in supplement} != set(labels):
        return []
    return list(supplement)


def add_supplement(
    data: TrainingSet, supplement: Sequence[Record], settings: ModelSettings
) -> TrainingSet:
    """``data`` plus each supplementary short request as one gold document of weight
    ``settings.supplement_weight`` (its own group)."""
    group = max(data.groups, default=-1) + 1
    for offset, r in enumerate(supplement):
        data.add(
            build_document(r.text, r.title),
            r.value("label"),
            settings.supplement_weight,
            group + offset,
        )
    return data


def pseudo_labelled(
    model: TextClassifier, unlabelled: Sequence[Record], field: str, threshold: float
) -> list[Record]:
    """The unlabelled records ``model`` labels with at least ``threshold`` probability,
    with that label in ``field``."""
    tops = model.predict_many([(r.text, r.title) for r in unlabelled], k=1)
    return [
        Record(r.id, r.text, r.title, {**r.raw, field: top[0][0]}, r.line)
        for r, top in zip(unlabelled, tops, strict=True)
        if top and top[0][1] >= threshold
    ]


def self_trained_set(
    data: TrainingSet, pseudo: Sequence[Record], field: str, settings: ModelSettings
) -> TrainingSet:
    """``data`` plus the pseudo-labelled records at ``settings.self_training_weight``."""
    extra = training_set(pseudo, field, settings)
    offset = max(data.groups, default=-1) + 1
    for doc, label, weight, group in zip(
        extra.docs, extra.labels, extra.weights, extra.groups, strict=True
    ):
        data.add(doc, label, weight * settings.self_training_weight, group + offset, gold=False)
    return data


def class_prior(data: TrainingSet, labels: Sequence[str]) -> list[float]:
    """Each label's share of the weight of the rows the calibrator is fitted on (gold
    rows): the prior it learns."""
    totals = dict.fromkeys(labels, 0.0)
    for label, weight, gold in zip(data.labels, data.weights, data.gold, strict=True):
        if gold:
            totals[label] += weight
    total = sum(totals.values()) or 1.0
    return [round(totals[label] / total, 6) for label in labels]


def fit_pipeline(data: TrainingSet, lexicon: Lexicon, settings: ModelSettings, short: bool = False):
    """Fit the pipeline (the short-request one when ``short``) on a :class:`TrainingSet`."""
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        raise TrainingError("训练数据至少需要两个不同的类别")
    pipeline = build_pipeline(labels, lexicon, settings, short=short)
    pipeline.fit(
        data.docs,
        data.labels,
        clf__sample_weight=np.asarray(data.weights),
        clf__groups=np.asarray(data.groups),
        # pseudo-labelled rows were picked for being confident: calibrating on them
        # makes the model over-confident (智能派单 precision, bench_dispatch.py)
        clf__calibration_mask=np.asarray(data.gold),
    )
    return pipeline


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
        data = training_set([records[i] for i in tr], field, settings)
        pipe = fit_pipeline(data, lexicon, settings)
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
    unlabelled: Sequence[Record] = (),
    supplement: Sequence[Record] = (),
) -> TextClassifier:
    """Fit a classifier for ``field`` and return it with metadata (CV metrics included).

    ``supplement``: labelled short requests (``label`` field, e.g.
    :func:`load_phone_corpus`), used when their labels are exactly the training labels
    (ignored otherwise): a second pipeline, trained on the same data plus these rows at
    ``settings.supplement_weight``, answers short documents (ModelSettings.short_chars).
    With ``unlabelled`` records, one round of self-training follows (ModelSettings
    ``self_training_*``); the CV figures are of the supervised model."""
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
    extra = matching_supplement(supplement, sorted(set(y)))
    if extra:
        progress(f"附加短诉求语料 {len(extra)} 条 (权重 {settings.supplement_weight})")
    elif supplement:
        progress(f"附加短诉求语料的类别与训练数据不同, 未使用 ({len(supplement)} 条)")
    cv = None
    if cv_folds >= 2:
        cv = cross_validate(usable, field, lexicon, settings, cv_folds, progress=progress)
    progress("训练最终模型")
    data = training_set(usable, field, settings)
    pipeline = fit_pipeline(data, lexicon, settings)
    n_pseudo = 0
    if unlabelled:
        pseudo = pseudo_labelled(
            TextClassifier(pipeline=pipeline), unlabelled, field, settings.self_training_threshold
        )
        n_pseudo = len(pseudo)
        progress(f"自训练: {n_pseudo}/{len(unlabelled)} 条未标注记录加入训练")
        data = self_trained_set(training_set(usable, field, settings), pseudo, field, settings)
        pipeline = fit_pipeline(data, lexicon, settings)
    labels = [str(label) for label in pipeline.classes_]
    short_pipeline, short_prior = None, None
    if extra:
        progress("训练短诉求模型 (附加语料)")
        short_data = training_set(usable, field, settings)
        if unlabelled:
            short_data = self_trained_set(short_data, pseudo, field, settings)
        short_data = add_supplement(short_data, extra, settings)
        short_pipeline = fit_pipeline(short_data, lexicon, settings, short=True)
        short_prior = class_prior(short_data, labels)
    version, created_at = new_version()
    metadata = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": created_at,
        "field": field,
        "labels": labels,
        "class_prior": class_prior(data, labels),
        "short_class_prior": short_prior,
        "n_train": len(docs),
        "metrics": {"cross_validation": cv},
        "training_data_sha256": data_hash,
        "taxonomy": str(taxonomy) if taxonomy else None,
        "keywords": use_keywords,
        "self_training": {"unlabelled": len(unlabelled), "pseudo_labelled": n_pseudo},
        "supplement": {
            "offered": len(supplement),
            "used": len(extra),
            "sources": dict(Counter(str(r.raw.get("source", "")) for r in extra)),
        },
        "settings": asdict(settings),
        "sklearn_version": sklearn.__version__,
    }
    progress("训练完成")
    return TextClassifier(pipeline=pipeline, metadata=metadata, short_pipeline=short_pipeline)


def evaluate(model: TextClassifier, records: Sequence[Record], field: str) -> dict:
    """Metrics of ``model`` on labelled ``records`` (records without the field skipped)."""
    usable = [r for r in records if r.value(field)]
    if not usable:
        raise TrainingError(f"评估数据中没有字段 '{field}'")
    tops = model.predict_many([(r.text, r.title) for r in usable], k=1)
    pred = [top[0][0] if top else "" for top in tops]
    return metrics([r.value(field) for r in usable], pred)
