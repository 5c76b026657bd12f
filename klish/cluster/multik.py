"""What every clustering method in klish shares: a fitted model holds one linear semantic extractor per K."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from klish.extractor import LinearExtractor


def check_k_values(k_values: Sequence[int], n_samples: int) -> list[int]:
    """Sorted distinct K values, each in 1..n_samples, or a ValueError naming the bad one."""
    ks = sorted({int(k) for k in k_values})
    if not ks:
        raise ValueError("k_values is empty")
    for k in k_values:
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k_values must hold positive integers, got {k!r}")
    if ks[-1] > n_samples:
        raise ValueError(f"k_values holds {ks[-1]} > n_samples={n_samples}")
    return ks


class MultiKExtractorMixin:
    """`extractor(k)`, `k_values_` and `predict` for a model whose fit filled `extractors_` ({K: LinearExtractor})
    and `n_clusters_` (the K of `labels_` and `predict`)."""

    extractors_: dict[int, LinearExtractor]
    n_clusters_: int

    @property
    def k_values_(self) -> list[int]:
        """The K values this model has an extractor for."""
        check_is_fitted(self, "extractors_")
        return sorted(self.extractors_)

    def extractor(self, k: int | None = None) -> LinearExtractor:
        """The k-way semantic extractor (default: `n_clusters_`)."""
        check_is_fitted(self, "extractors_")
        k = self.n_clusters_ if k is None else int(k)
        if k not in self.extractors_:
            raise ValueError(f"no extractor for k={k}: fitted for k in {self.k_values_}")
        return self.extractors_[k]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Cluster of each sample [n_samples, n_features] by the `n_clusters_`-way extractor."""
        return self.extractor().predict(np.asarray(X, dtype=np.float32))
