"""The supervised linear semantic extractor (Xu & Zheng, "Linear Semantics in Generative Adversarial Networks",
CVPR 2021): a linear classifier on generator features trained against per-pixel class labels. KLiSH's paper builds
on it; here it is the clustering evaluation's ceiling, the best a linear extractor on the same features reaches when
it is given the labels that the unsupervised methods never see. Multinomial logistic regression (scikit-learn,
L-BFGS) on standardised features, folded back into one linear map on the raw features."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from klish.extractor import LinearExtractor

ABSENT_CLASS_INTERCEPT = -1e4  # a class with no training pixel is never predicted


def fit_linear_probe(X: np.ndarray, y: np.ndarray, n_classes: int, *, C: float = 1.0, max_iter: int = 200,
                     random_state: Any = None) -> tuple[LinearExtractor, int]:
    """Fit on pixel features X [n, D] with class ids y [n] in 0..n_classes-1: the n_classes-way extractor on raw
    features and the solver's iteration count.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]], dtype=np.float32)
    >>> probe, _ = fit_linear_probe(X, np.array([0, 0, 2, 2]), 3)
    >>> probe.predict(X).tolist()
    [0, 0, 2, 2]
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be [n, D] with one label per row, got X {X.shape} and y {y.shape}")
    if y.size == 0 or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    present = np.unique(y)
    coef = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
    intercept = np.full(n_classes, ABSENT_CLASS_INTERCEPT, dtype=np.float64)
    if len(present) == 1:  # nothing to separate: the one class everywhere
        intercept[present[0]] = 0.0
        return LinearExtractor(coef.astype(np.float32), intercept.astype(np.float32)), 0
    scaler = StandardScaler().fit(X)
    model = LogisticRegression(C=C, max_iter=max_iter, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a capped iteration count is part of the protocol
        model.fit(scaler.transform(X), y)
    w = model.coef_.astype(np.float64)  # [n_present or 1, D] on standardised features
    b = model.intercept_.astype(np.float64)
    if len(present) == 2:  # scikit-learn's binary model: one row for the second class against the first
        w, b = np.vstack([np.zeros_like(w[0]), w[0]]), np.array([0.0, b[0]])
    w_raw = w / scaler.scale_  # logits = w . (x - mean) / scale + b
    coef[present] = w_raw
    intercept[present] = b - w_raw @ scaler.mean_
    return LinearExtractor(coef.astype(np.float32), intercept.astype(np.float32)), int(np.max(model.n_iter_))
