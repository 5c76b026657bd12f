"""K-means baselines (spec section 3.1): scikit-learn's KMeans per K, with Euclidean distance on the raw features or
on L2-normalised features ("arccos"), turned into linear semantic extractors.

Euclidean: argmin_k ||x - c_k|| = argmax_k (c_k . x - ||c_k||^2 / 2), so W = centroids, b = -||c||^2 / 2.
Arccos: K-means on unit-length pixel vectors, centroids re-normalised; argmax_k (c_k / ||c_k||) . x is the smallest
angle and does not depend on the length of x, so the extractor applies to raw features with b = 0. scikit-learn
does not re-normalise the centroids between Lloyd steps as the reference's spherical K-means does: a small, known
difference. As in the reference, every K gets a fresh K-means with the same seed and `max_iter` Lloyd steps; since
single-trial D² sampling draws one number per centre, the seeds for K are the first K of one sampling at the largest
K, computed once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from klish.cluster.multik import MultiKExtractorMixin, check_k_values
from klish.extractor import LinearExtractor


def centroid_extractor(centroids: np.ndarray, metric: str = "euclidean") -> LinearExtractor:
    """The linear extractor whose argmax is the nearest centroid (euclidean) or the smallest angle (arccos)."""
    c = np.asarray(centroids, dtype=np.float64)
    if metric == "arccos":
        unit = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return LinearExtractor(unit.astype(np.float32), np.zeros(len(c), np.float32))
    return LinearExtractor(c.astype(np.float32), (-0.5 * (c * c).sum(axis=1)).astype(np.float32))


def plusplus_seeds(X: np.ndarray, k: int, random_state: Any) -> np.ndarray:
    """The reference's single-trial D² sampling (scikit-learn's default greedy variant tries 2 + log k candidates
    per centre): k initial centroids [k, D]. With the same seed, the first j of them are the seeds for K = j."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seeds, _ = kmeans_plusplus(X, k, random_state=check_random_state(random_state), n_local_trials=1)
    return seeds


def lloyd(X: np.ndarray, seeds: np.ndarray, *, max_iter: int) -> np.ndarray:
    """scikit-learn's Lloyd iterations from `seeds` [k, D]: at most `max_iter` steps, stopping early only when no
    label changes (tol = 0, as the reference's fixed step count; it also skips a full variance pass over X)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than k: some centroids repeat
        model = KMeans(n_clusters=len(seeds), init=seeds, n_init=1, max_iter=max_iter, tol=0.0)
        return model.fit(X).cluster_centers_


def fit_kmeans(X: np.ndarray, k: int, *, max_iter: int, random_state: Any, init: str = "k-means++") -> np.ndarray:
    """One K-means (`max_iter` Lloyd steps) from single-trial k-means++ seeds ("k-means++") or "random" rows:
    the centroids [k, D]."""
    if init == "k-means++":
        return lloyd(X, plusplus_seeds(X, k, random_state), max_iter=max_iter)
    rng = check_random_state(random_state)
    return lloyd(X, X[np.sort(rng.choice(len(X), size=k, replace=False))], max_iter=max_iter)


class KMeansExtractor(MultiKExtractorMixin, ClusterMixin, BaseEstimator):
    """K-means at every K of `k_values` (plus `n_clusters`), each as a linear semantic extractor.

    Examples
    --------
    >>> X = np.array([[0, 0], [0, 1], [9, 9], [9, 8]], dtype=np.float32)
    >>> KMeansExtractor(n_clusters=2, random_state=0).fit(X).extractor(2).n_clusters
    2
    """

    def __init__(self, n_clusters: int = 8, *, k_values: Sequence[int] | None = None, metric: str = "euclidean",
                 max_iter: int = 20, random_state: Any = None) -> None:
        self.n_clusters = n_clusters
        self.k_values = k_values
        self.metric = metric
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> KMeansExtractor:
        """Fit one K-means per K on pixel features X [n_samples, n_features]; `y` is ignored."""
        if self.metric not in ("euclidean", "arccos"):
            raise ValueError(f"metric must be 'euclidean' or 'arccos', got {self.metric!r}")
        X = check_array(X, dtype=np.float32)
        ks = check_k_values([*(self.k_values or []), self.n_clusters], X.shape[0])
        data = normalize(X) if self.metric == "arccos" else X
        self.centroids_: dict[int, np.ndarray] = {}
        self.extractors_ = {}
        seeds = plusplus_seeds(data, max(ks), self.random_state)  # one D² pass: every K takes its prefix
        for k in ks:
            centroids = lloyd(data, seeds[:k], max_iter=self.max_iter)
            self.centroids_[k] = centroids.astype(np.float32)
            self.extractors_[k] = centroid_extractor(centroids, self.metric)
        self.n_clusters_ = int(self.n_clusters)
        self.n_features_in_ = X.shape[1]
        self.labels_ = self.extractor().predict(X)
        return self
