"""A dense topic representation learned here: LSA (truncated SVD) over character
1–2-gram TF-IDF of the training documents, which with self-training include thousands
of unlabelled TipDM messages.

Short spoken requests share few exact n-grams with long web letters; the SVD maps
co-occurring characters (公交/站台/班车, 噪音/吵/扰民) close together, so a request
without the catalogue word still lands near the letters about the same thing.
Prediction cost: the sparse n-gram vector times a (vocabulary x k) matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD

from classifiers.char_features import CharTfidf


class LsaFeatures(TransformerMixin, BaseEstimator):
    """Documents -> ``k`` L2-normalised LSA coordinates times ``scale``."""

    def __init__(self, k: int = 150, scale: float = 0.5, min_df: int = 5, max_chars: int = 300):
        self.k = k
        self.scale = scale
        self.min_df = min_df
        self.max_chars = max_chars

    def fit(self, docs, y=None):
        docs = [d[: self.max_chars] for d in docs]
        self.tfidf_ = CharTfidf(ngram_range=(1, 2))
        self.tfidf_.min_df = self.min_df
        X = self.tfidf_.fit_transform(docs)
        svd = TruncatedSVD(self.k, algorithm="randomized", n_iter=5, random_state=0).fit(X)
        # (vocabulary, k), C-contiguous for a fast sparse @ dense product.
        self.projection_ = np.ascontiguousarray(svd.components_.T.astype(np.float32))
        self.tfidf_.stop_words_ = None  # fitted-vocabulary leftovers: not needed, large
        return self

    def transform(self, docs):
        X = self.tfidf_.transform([d[: self.max_chars] for d in docs])
        Z = np.asarray(X @ self.projection_)
        Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)
        return sp.csr_matrix(Z * self.scale, dtype=np.float32)
