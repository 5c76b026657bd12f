"""KASP, K-means-based approximate spectral clustering (spec section 3.3): K-means with many centroids, then
scikit-learn's spectral clustering of the centroids (k-nearest-neighbour affinity, discretised labels) for each
smaller K. A new pixel takes its nearest centroid's group, so the extractor is the K-means one plus a lookup table.
Unlike the reference, the spectral step is seeded."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import SpectralClustering
from sklearn.utils.validation import check_array

from klish.cluster.kmeans import centroid_extractor, fit_kmeans
from klish.cluster.multik import MultiKExtractorMixin, check_k_values
from klish.extractor import LinearExtractor


class KASPExtractor(MultiKExtractorMixin, ClusterMixin, BaseEstimator):
    """K-means(`n_centroids`) followed by spectral clustering of the centroids into K groups, for every K."""

    def __init__(self, n_clusters: int = 8, *, k_values: Sequence[int] | None = None, n_centroids: int = 100,
                 n_neighbors: int = 3, max_iter: int = 20, random_state: Any = None) -> None:
        self.n_clusters = n_clusters
        self.k_values = k_values
        self.n_centroids = n_centroids
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> KASPExtractor:
        """K-means on pixel features X [n_samples, n_features], then one spectral clustering per K."""
        X = check_array(X, dtype=np.float32)
        n_centroids = min(self.n_centroids, X.shape[0])
        ks = check_k_values([*(self.k_values or []), self.n_clusters], n_centroids)
        centroids = fit_kmeans(X, n_centroids, max_iter=self.max_iter, random_state=self.random_state)
        base = centroid_extractor(centroids)
        self.centroids_ = centroids.astype(np.float32)
        self.extractors_ = {}
        for k in ks:
            if k == n_centroids:
                mapping = np.arange(n_centroids)
            else:
                spectral = SpectralClustering(n_clusters=k, affinity="nearest_neighbors",
                                              n_neighbors=min(self.n_neighbors, n_centroids - 1),
                                              assign_labels="discretize", random_state=self.random_state)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Graph is not fully connected")
                    groups = spectral.fit_predict(centroids)
                mapping = np.unique(groups, return_inverse=True)[1]  # compact: discretisation may leave a group empty
            self.extractors_[k] = LinearExtractor(base.coef, base.intercept, mapping.astype(np.int64))
        self.n_clusters_ = int(self.n_clusters)
        self.n_features_in_ = X.shape[1]
        self.labels_ = self.extractor().predict(X)
        return self
