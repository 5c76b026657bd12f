"""AHC baselines (spec section 3.2): scikit-learn's agglomerative clustering (Ward on raw features, or average
linkage with cosine affinity) on a pixel subsample, the tree cut at every K, and per K a linear classifier trained
on the subsample's cluster labels, which extends the clustering to all pixels and to new samples.

The classifier is the reference's: softmax cross-entropy + 1e-3 mean(W^2) (bias for Ward, none for cosine, whose
features are L2-normalised), solved to convergence with scikit-learn's LogisticRegression instead of 1000 Adam
steps. With scikit-learn's objective C sum_i CE_i + ||W||^2 / 2, the same minimiser needs C = K D / (2e-3 n).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import cut_tree
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from klish.cluster.multik import MultiKExtractorMixin, check_k_values
from klish.extractor import LinearExtractor

WEIGHT_DECAY = 1e-3  # the reference's coefficient of mean(W^2)


def tree_cuts(children: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Labels [n, len(ks)] of the first n - K merges of a scikit-learn `children_` array, for each K in `ks`,
    numbered by descending cluster size."""
    n = len(children) + 1
    counts = np.ones(2 * n - 1)
    for i, (a, b) in enumerate(children):
        counts[n + i] = counts[a] + counts[b]
    # scipy linkage form; the merge order is all that a cut by count needs, so the heights are the merge steps
    linkage = np.column_stack([children, np.arange(1, n), counts[n:]]).astype(np.float64)
    cuts = cut_tree(linkage, n_clusters=list(ks))
    out = np.empty_like(cuts)
    for j in range(cuts.shape[1]):
        sizes = np.bincount(cuts[:, j])
        rank = np.argsort(np.argsort(-sizes, kind="stable"), kind="stable")
        out[:, j] = rank[cuts[:, j]]
    return out


class AHCExtractor(MultiKExtractorMixin, ClusterMixin, BaseEstimator):
    """Agglomerative clustering of `n_subsample` random pixels, extended by a linear classifier per K."""

    def __init__(self, n_clusters: int = 8, *, k_values: Sequence[int] | None = None, linkage: str = "ward",
                 n_subsample: int = 8192, max_iter: int = 500, random_state: Any = None) -> None:
        self.n_clusters = n_clusters
        self.k_values = k_values
        self.linkage = linkage
        self.n_subsample = n_subsample
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> AHCExtractor:
        """Cluster a subsample of X [n_samples, n_features] hierarchically, then train the classifier per K."""
        if self.linkage not in ("ward", "average"):
            raise ValueError(f"linkage must be 'ward' or 'average' (cosine), got {self.linkage!r}")
        X = check_array(X, dtype=np.float32)
        rng = check_random_state(self.random_state)
        m = min(self.n_subsample, X.shape[0])
        self.subsample_ = np.sort(rng.choice(X.shape[0], size=m, replace=False))
        sub = X[self.subsample_]
        ks = check_k_values([*(self.k_values or []), self.n_clusters], m)
        cosine = self.linkage == "average"
        if cosine:
            sub = normalize(sub)
        ahc = AgglomerativeClustering(n_clusters=ks[0], linkage=self.linkage,
                                      metric="cosine" if cosine else "euclidean", compute_full_tree=True)
        ahc.fit(sub)
        cuts = tree_cuts(ahc.children_, ks)
        self.subsample_labels_ = {k: cuts[:, j] for j, k in enumerate(ks)}
        self.extractors_ = {}
        for k in ks:
            labels = self.subsample_labels_[k]
            if k == 1:
                self.extractors_[k] = LinearExtractor(np.zeros((1, X.shape[1]), np.float32), np.zeros(1, np.float32))
                continue
            c = k * X.shape[1] / (2 * WEIGHT_DECAY * m)
            clf = LogisticRegression(C=c, fit_intercept=not cosine, max_iter=self.max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(sub, labels)
            coef = clf.coef_ if k > 2 else np.concatenate([-clf.coef_, clf.coef_]) / 2  # binary: one row -> two
            intercept = (clf.intercept_ if k > 2 else np.concatenate([-clf.intercept_, clf.intercept_]) / 2) \
                if not cosine else np.zeros(k)
            self.extractors_[k] = LinearExtractor(coef.astype(np.float32), np.asarray(intercept, np.float32))
        self.n_clusters_ = int(self.n_clusters)
        self.n_features_in_ = X.shape[1]
        self.labels_ = self.extractor().predict(X)
        return self
