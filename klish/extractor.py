"""The linear semantic extractor: a K x C linear map (a 1x1 convolution) on generator features, then argmax.
This is what KLiSH and every baseline hand over for labelling new samples (spec section 1.6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearExtractor:
    """`labels = argmax(features @ coef.T + intercept)` for features [..., C].

    Examples
    --------
    >>> ext = LinearExtractor(coef=np.eye(2, dtype=np.float32), intercept=np.zeros(2, dtype=np.float32))
    >>> ext.predict(np.array([[0.0, 1.0], [2.0, 1.0]], dtype=np.float32)).tolist()
    [1, 0]
    """

    coef: np.ndarray  # [K, C]
    intercept: np.ndarray  # [K]

    @property
    def n_clusters(self) -> int:
        return int(self.coef.shape[0])

    def decision_function(self, features: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Scores [..., K] of features [..., C], computed in float32 chunks of pixels."""
        features = np.asarray(features)
        flat = features.reshape(-1, features.shape[-1])
        out = np.empty((flat.shape[0], self.n_clusters), dtype=np.float32)
        coef_t = np.asarray(self.coef, dtype=np.float32).T
        for start in range(0, flat.shape[0], chunk):
            block = np.asarray(flat[start:start + chunk], dtype=np.float32)
            out[start:start + chunk] = block @ coef_t + self.intercept
        return out.reshape(*features.shape[:-1], self.n_clusters)

    def predict(self, features: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Cluster ids [...] of features [..., C] (e.g. [N, S, S, C] -> masks [N, S, S])."""
        return self.decision_function(features, chunk).argmax(axis=-1)
