"""A LinearSVC whose margins are turned into probabilities by a small multinomial
logistic regression fitted on out-of-fold margins (stacked Platt scaling).

Compared with ``CalibratedClassifierCV`` (five SVMs and per-class sigmoids) it keeps
one weight matrix, so prediction is a sparse product plus a 7x7 one: about 0.1 ms
instead of 4 ms per request, and a model half the size.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC


def _as_2d_margins(margins: np.ndarray) -> np.ndarray:
    margins = np.asarray(margins, dtype=np.float64)
    return margins.reshape(-1, 1) if margins.ndim == 1 else margins


class CalibratedLinearSVC(ClassifierMixin, BaseEstimator):
    """LinearSVC + out-of-fold multinomial calibration; ``folds < 2`` means softmax only.

    ``groups`` (one id per row) keeps rows cut from the same message in one fold, so a
    message's own fragments never inflate its out-of-fold margins; ``sample_weight``
    weighs rows in the SVM and in the calibrator alike.
    """

    def __init__(
        self,
        C: float = 1.0,
        folds: int = 5,
        class_weight=None,
        random_state: int = 0,
        calibration_class_weight=None,
    ):
        self.C = C
        self.folds = folds
        self.class_weight = class_weight
        self.random_state = random_state
        self.calibration_class_weight = calibration_class_weight

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)

    def fit(self, X, y, sample_weight=None, groups=None, calibration_mask=None):
        """``calibration_mask`` (bool per row): the rows the calibrator is fitted on
        (default all); the SVM and its out-of-fold margins always use every row."""
        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        svm = self._svm().fit(X, y, sample_weight=sample_weight)
        self._set_coef(svm.coef_.astype(np.float32))
        self.intercept_ = svm.intercept_.astype(np.float32)
        folds = min(self.folds, int(counts.min()))
        if groups is not None:  # a fold needs whole messages of every class
            groups = np.asarray(groups)
            folds = min(folds, min(len(np.unique(groups[y == c])) for c in self.classes_))
        self.calibrator_ = None
        if folds >= 2:
            splitter = (
                StratifiedGroupKFold(folds, shuffle=True, random_state=self.random_state)
                if groups is not None
                else StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            )
            margins = cross_val_predict(
                self._svm(),
                X,
                y,
                groups=groups,
                cv=splitter,
                method="decision_function",
                params={} if sample_weight is None else {"sample_weight": sample_weight},
            )
            keep = (
                np.ones(len(y), dtype=bool)
                if calibration_mask is None
                else np.asarray(calibration_mask, dtype=bool)
            )
            weights = None if sample_weight is None else np.asarray(sample_weight)[keep]
            self.calibrator_ = LogisticRegression(
                max_iter=1000, class_weight=self.calibration_class_weight
            ).fit(_as_2d_margins(margins)[keep], y[keep], sample_weight=weights)
        return self

    def _set_coef(self, coef: np.ndarray) -> None:
        # Kept (n_features, n_classes), C-contiguous: sparse @ dense is 5x faster this
        # way; `coef_` (scikit-learn's shape) is a view of it, not a second copy (the
        # category model's two would be 100 MB in every process that reads).
        self.coef_t_ = np.ascontiguousarray(coef.T)
        self.coef_ = self.coef_t_.T

    def __getstate__(self):
        state = dict(super().__getstate__())  # (scikit-learn may return __dict__ itself)
        state.pop("coef_", None)  # a view: pickled, it would be a copy
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coef_t_" in self.__dict__:
            self._set_coef(self.coef_t_.T)

    def decision_function(self, X) -> np.ndarray:
        margins = np.asarray(X @ self.coef_t_) + self.intercept_
        return margins.ravel() if margins.shape[1] == 1 else margins

    def predict_proba(self, X) -> np.ndarray:
        margins = _as_2d_margins(self.decision_function(X))
        if self.calibrator_ is not None:
            z = margins @ self.calibrator_.coef_.T + self.calibrator_.intercept_
        else:
            z = margins
        if z.shape[1] == 1:  # two classes: one logit for the second class
            p = expit(z[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(z, axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
