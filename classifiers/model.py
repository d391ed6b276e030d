"""The text classifier: estimator construction, prediction and the model directory.

A model directory holds ``model.joblib`` (the fitted scikit-learn pipeline),
optionally ``short_model.joblib`` (the pipeline for short requests, trained with the
supplementary corpus of short requests) and ``metadata.json`` (version, created_at,
field, labels, metrics, data hash, settings).
Model files are pickles: load only directories you or your own training produced.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import FeatureUnion, Pipeline

from .calibration import CalibratedLinearSVC
from .char_features import CharTfidf
from .exceptions import ModelLoadError, ModelNotFound
from .keywords import KeywordFeatures, Lexicon
from .text import build_document, has_content
from .word_features import WordTfidf, warm_up

MODEL_FILE = "model.joblib"
SHORT_MODEL_FILE = "short_model.joblib"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelSettings:
    """Hyper-parameters. The keyword evidence was chosen by 5-fold CV on TipDM labelled
    data; among CV-equivalent variants the phone-style set decided (RESULTS.md)."""

    ngram_range: tuple[int, int] = (1, 3)
    svm_c: float = 1.0
    keyword_scale: float = 0.1  # raw keyword evidence (0 = off): long letters
    keyword_l2_scale: float = 0.3  # length-normalised evidence (0 = off): short calls
    title_augment: bool = True  # titles also as short training documents
    segment_weight: float = 1.0  # message fragments as short documents (0 = off)
    segment_chars: int = 40  # a fragment: clauses joined up to this length
    segment_limit: int = 6  # fragments per message (the first ones carry the topic)
    class_weight: str | None = "balanced"
    calibration_folds: int = 5
    calibration_class_weight: str | None = None
    # Self-training on unlabelled messages (when given): those the first model labels
    # with at least this probability are added at this weight and the model is refitted
    # (bench_prior.py st:0.7:0.3: no set worse, category_dev 0.886 -> 0.905).
    self_training_threshold: float = 0.7
    self_training_weight: float = 0.3
    # Short requests (documents of at most short_chars characters: phone calls, not web
    # letters) get the training prior divided out to this power: p * prior^-power,
    # renormalised. The calibrator learns the prior of long letters and pseudo-labelled
    # messages, where 城乡建设 dominates; a caller's short request carries less evidence,
    # so that prior pulls it there (issue 13; bench_prior.py, RESULTS.md).
    short_prior_power: float = 0.5
    short_chars: int = 150
    # The supplementary corpus of short requests (data/phone_corpus.jsonl, used when its
    # labels are the training labels) trains a second pipeline that answers documents
    # of at most short_chars characters; long letters keep the pipeline trained without
    # it (with it their TipDM test accuracy fell 0.909 -> 0.849). Each corpus row weighs
    # supplement_weight; a TipDM letter weighs about 3 (itself, its title, its
    # fragments). bench_corpus.py, leave one writer out, pooled accuracy: weight 0.5
    # 0.921, 1 0.926, 2 0.931 (no corpus: 0.868).
    supplement_weight: float = 2.0
    # jieba word n-grams (1: words, 2: + word pairs; 0 = off) beside the character
    # n-grams in the short-request pipeline only, their block weighed by short_word_scale
    # (word_features.py; bench_corpus.py, RESULTS.md).
    short_word_ngrams: int = 2
    short_word_scale: float = 1.0


def build_pipeline(
    labels: list[str], lexicon: Lexicon | None, settings: ModelSettings, short: bool = False
):
    """Char n-gram TF-IDF (+ jieba word n-grams in the ``short`` request pipeline, per
    settings) + keyword evidence -> LinearSVC with stacked calibration."""
    features = [("chars", CharTfidf(ngram_range=settings.ngram_range))]
    if short and settings.short_word_ngrams > 0:
        words = WordTfidf(max_n=settings.short_word_ngrams, scale=settings.short_word_scale)
        features.append(("words", words))
    if lexicon and (settings.keyword_scale > 0 or settings.keyword_l2_scale > 0):
        keywords = KeywordFeatures(
            lexicon,
            labels=tuple(labels),
            scale=settings.keyword_scale,
            l2_scale=settings.keyword_l2_scale,
        )
        features.append(("keywords", keywords))
    clf = CalibratedLinearSVC(
        C=settings.svm_c,
        folds=settings.calibration_folds,
        class_weight=settings.class_weight,
        calibration_class_weight=settings.calibration_class_weight,
    )
    return Pipeline([("features", FeatureUnion(features)), ("clf", clf)])


@dataclass
class TextClassifier:
    """A fitted classifier plus its metadata. Thread-safe for prediction."""

    pipeline: Any
    metadata: dict = field(default_factory=dict)
    # answers documents of at most settings["short_chars"] characters when present
    short_pipeline: Any = None

    @property
    def labels(self) -> list[str]:
        return [str(label) for label in self.pipeline.classes_]

    @property
    def version(self) -> str:
        return self.metadata.get("version", "unversioned")

    def predict_proba_docs(self, docs: list[str]) -> np.ndarray:
        """Probabilities (rows sum to 1) for already-built documents.

        Transforms each feature block directly instead of calling the pipeline:
        FeatureUnion's per-call overhead alone is larger than the whole prediction.
        Short documents go to the short-request pipeline when the model has one.
        """
        settings = self.metadata.get("settings") or {}
        short = np.fromiter(
            (len(d) <= settings.get("short_chars", 0) for d in docs), bool, len(docs)
        )
        if self.short_pipeline is None or not short.any():
            proba = _pipeline_proba(self.pipeline, docs)
        elif short.all():
            proba = _pipeline_proba(self.short_pipeline, docs)
        else:
            proba = np.empty((len(docs), len(self.labels)))
            proba[~short] = _pipeline_proba(
                self.pipeline, [d for d, s in zip(docs, short, strict=True) if not s]
            )
            proba[short] = _pipeline_proba(
                self.short_pipeline, [d for d, s in zip(docs, short, strict=True) if s]
            )
        return self._short_prior_corrected(short, proba)

    def _short_prior_corrected(self, short: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Divide the training prior out (to ModelSettings.short_prior_power) of the
        rows of short documents (the short pipeline's own prior when it answered them);
        models trained without a stored prior are unchanged."""
        key = "short_class_prior" if self.short_pipeline is not None else "class_prior"
        prior = self.metadata.get(key)
        power = (self.metadata.get("settings") or {}).get("short_prior_power", 0.0)
        if not prior or not power or not short.any():
            return proba
        proba = proba.copy()
        rows = proba[short] * np.asarray(prior, dtype=np.float64) ** -power
        proba[short] = rows / rows.sum(axis=1, keepdims=True)
        return proba

    def predict(self, text: str, title: str | None = None, k: int = 3) -> list[tuple[str, float]]:
        """Top-``k`` ``(label, probability)`` pairs, best first; [] for empty input."""
        return self.predict_many([(text, title)], k=k)[0]

    def predict_many(
        self, items: list[tuple[str, str | None]], k: int = 3
    ) -> list[list[tuple[str, float]]]:
        """Batch form of :meth:`predict` for ``(text, title)`` pairs."""
        docs = [build_document(text, title) for text, title in items]
        results: list[list[tuple[str, float]]] = [[] for _ in docs]
        idx = [i for i, doc in enumerate(docs) if has_content(doc)]
        if not idx:
            return results
        proba = self.predict_proba_docs([docs[i] for i in idx])
        labels = self.labels
        for row, i in zip(proba, idx, strict=True):
            order = np.argsort(-row)[:k]
            results[i] = [(labels[j], round(float(row[j]), 4)) for j in order]
        return results

    def save(self, directory: Path) -> None:
        """Write the model directory atomically (old directory replaced at the end)."""
        import joblib

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; a model directory is not secret
        try:
            joblib.dump(self.pipeline, tmp / MODEL_FILE, compress=3)
            if self.short_pipeline is not None:
                joblib.dump(self.short_pipeline, tmp / SHORT_MODEL_FILE, compress=3)
            (tmp / METADATA_FILE).write_text(
                json.dumps(self.metadata, ensure_ascii=False, indent=2), encoding="utf-8"
            )
            if directory.exists():
                old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
                directory.rename(old)
                tmp.rename(directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(directory)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _pipeline_proba(pipeline, docs: list[str]) -> np.ndarray:
    blocks = [t.transform(docs) for _, t in pipeline.named_steps["features"].transformer_list]
    features = sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
    return pipeline.named_steps["clf"].predict_proba(features)


def new_version(now: datetime | None = None) -> tuple[str, str]:
    """(version, created_at): a sortable version string and an ISO timestamp."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ"), now.isoformat(timespec="seconds")


def _has_words(pipeline) -> bool:
    return "words" in pipeline.named_steps["features"].named_transformers


def load_model(directory: str | os.PathLike) -> TextClassifier:
    """Load a model directory written by ``python -m classifiers train``."""
    import joblib

    directory = Path(directory)
    model_file, meta_file = directory / MODEL_FILE, directory / METADATA_FILE
    if not directory.is_dir() or not model_file.is_file():
        raise ModelNotFound(f"模型目录不存在或不完整: {directory}")
    try:
        metadata = json.loads(meta_file.read_text(encoding="utf-8"))
        pipeline = joblib.load(model_file)
        short_file = directory / SHORT_MODEL_FILE
        short_pipeline = joblib.load(short_file) if short_file.is_file() else None
    except (
        OSError, ValueError, EOFError, KeyError, AttributeError, ImportError,
        pickle.UnpicklingError, zlib.error,
    ) as exc:  # fmt: skip
        raise ModelLoadError(f"无法读取模型 {directory}: {exc}") from exc
    if metadata.get("format_version") != FORMAT_VERSION or not hasattr(pipeline, "classes_"):
        raise ModelLoadError(f"模型格式不兼容: {directory}")
    if short_pipeline is not None and list(getattr(short_pipeline, "classes_", [])) != list(
        pipeline.classes_
    ):
        raise ModelLoadError(f"模型格式不兼容 (短诉求模型的类别不同): {directory}")
    if short_pipeline is not None and _has_words(short_pipeline):
        warm_up()  # jieba's dictionary now, not in the first short request's prediction
    return TextClassifier(pipeline=pipeline, metadata=metadata, short_pipeline=short_pipeline)
