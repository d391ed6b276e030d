"""Category keyword evidence (派单目录关键词) as features for the classifier.

A dispatch catalogue names its categories (e.g. 商贸旅游 › 市场监管 › 传销); those
names are strong evidence even when the few labelled examples never use them. The
lexicon maps each term to the first-level categories it appears under (weight 1/n
when a term is shared by n categories); :class:`KeywordFeatures` turns a document
into one column per label: sum over matched terms of weight * log(1 + count),
times ``scale``, plus optionally the same columns L2-normalised per document times
``l2_scale`` (the evidence of short texts is otherwise too weak to matter).
On the TipDM split this lifted accuracy from 0.78 to 0.88 (benchmarks/classifiers).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

DEFAULT_KEYWORDS_FILE = Path(__file__).parent / "data" / "category_keywords.json"

# Parts of catalogue names that say nothing about the category.
_GENERIC_TERMS = frozenset(
    {"其他", "管理", "问题", "政策", "服务", "建设", "人员", "工作", "事业", "机构", "相关", "发展"}
)

Lexicon = dict[str, dict[str, float]]  # term -> {label: weight}


def _name_parts(name: str) -> set[str]:
    """A catalogue name and its multi-character words (园林绿化环卫 -> 园林, 绿化, 环卫)."""
    import jieba  # training-time only; keeps model loading free of jieba's dictionary

    jieba.setLogLevel(60)
    return {name} | {w for w in jieba.lcut(name) if len(w) >= 2}


def lexicon_from_taxonomy(rows: Iterable[Mapping[str, str]]) -> Lexicon:
    """Build a lexicon from taxonomy rows ``{"level1", "level2", "level3"}``."""
    term_labels: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        label = row["level1"]
        for name in (row.get("level2", ""), row.get("level3", "")):
            if not name or name in _GENERIC_TERMS:
                continue
            for part in _name_parts(name):
                if part not in _GENERIC_TERMS:
                    term_labels[part].add(label)
    return {t: {lab: 1.0 / len(ls) for lab in ls} for t, ls in term_labels.items()}


def lexicon_from_keywords(mapping: Mapping[str, Iterable[str]]) -> Lexicon:
    """Build a lexicon from ``{label: [keyword, ...]}`` (keys starting with _ skipped)."""
    term_labels: dict[str, set[str]] = defaultdict(set)
    for label, words in mapping.items():
        if label.startswith("_"):
            continue
        for word in words:
            term_labels[word].add(label)
    return {t: {lab: 1.0 / len(ls) for lab in ls} for t, ls in term_labels.items()}


def load_taxonomy(path: Path) -> Lexicon:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lexicon_from_taxonomy(rows)


def load_keywords(path: Path = DEFAULT_KEYWORDS_FILE) -> Lexicon:
    return lexicon_from_keywords(json.loads(path.read_text(encoding="utf-8")))


def merge_lexicons(*lexicons: Lexicon) -> Lexicon:
    """Union of lexicons; a term in several keeps its strongest weight per label."""
    merged: Lexicon = {}
    for lexicon in lexicons:
        for term, weights in lexicon.items():
            slot = merged.setdefault(term, {})
            for label, w in weights.items():
                slot[label] = max(slot.get(label, 0.0), w)
    return merged


def restrict(lexicon: Lexicon, labels: Iterable[str]) -> Lexicon:
    """Keep only the labels the model predicts; drop terms left without any."""
    keep = set(labels)
    out = {t: {lab: w for lab, w in ws.items() if lab in keep} for t, ws in lexicon.items()}
    return {t: ws for t, ws in out.items() if ws}


class KeywordFeatures(TransformerMixin, BaseEstimator):
    """Documents -> sparse matrix of per-label keyword evidence, scaled by ``scale``."""

    def __init__(
        self, lexicon: Lexicon | None = None, labels=(), scale: float = 0.1, l2_scale: float = 0.0
    ):
        self.lexicon = lexicon
        self.labels = labels
        self.scale = scale
        self.l2_scale = l2_scale

    def fit(self, docs, y=None):
        lexicon = restrict(self.lexicon or {}, self.labels)
        self.lexicon_ = {t.lower(): ws for t, ws in lexicon.items()}
        self.columns_ = {label: i for i, label in enumerate(self.labels)}
        terms = sorted(self.lexicon_, key=len, reverse=True)
        self.pattern_ = re.compile("|".join(map(re.escape, terms))) if terms else None
        return self

    def transform(self, docs):
        out = np.zeros((len(docs), len(self.columns_)))
        if self.pattern_ is not None:
            for i, doc in enumerate(docs):
                counts: dict[str, int] = defaultdict(int)
                for term in self.pattern_.findall(doc):
                    counts[term] += 1
                for term, n in counts.items():
                    for label, w in self.lexicon_[term].items():
                        out[i, self.columns_[label]] += w * math.log1p(n)
        blocks = [out * self.scale] if self.scale > 0 else []
        if self.l2_scale > 0:
            # Length-invariant copy: one keyword in a phone call weighs as much as
            # twenty in a long letter.
            norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
            blocks.append(out / norms * self.l2_scale)
        return sp.csr_matrix(np.hstack(blocks), dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        names = [f"kw:{label}" for label in self.columns_] if self.scale > 0 else []
        if self.l2_scale > 0:
            names += [f"kw_l2:{label}" for label in self.columns_]
        return np.array(names, dtype=object)
