"""The linear semantic extractor: a K x C linear map (a 1x1 convolution) on generator features, then argmax.
This is what KLiSH and every baseline hand over for labelling new samples (spec section 1.6). KASP adds a lookup
table after the argmax (K-means cluster -> spectral group), which is why `mapping` exists."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.numpy import load_file

from klish.errors import KlishError
from klish.tensor_files import save_tensors


@dataclass(frozen=True)
class LinearExtractor:
    """`labels = argmax(features @ coef.T + intercept)` for features [..., C], then `mapping[labels]` if given.

    Examples
    --------
    >>> ext = LinearExtractor(coef=np.eye(2, dtype=np.float32), intercept=np.zeros(2, dtype=np.float32))
    >>> ext.predict(np.array([[0.0, 1.0], [2.0, 1.0]], dtype=np.float32)).tolist()
    [1, 0]
    """

    coef: np.ndarray  # [R, C]
    intercept: np.ndarray  # [R]
    mapping: np.ndarray | None = None  # [R] int: row -> cluster id, or None (row r is cluster r)

    @property
    def n_clusters(self) -> int:
        """Number of clusters the extractor outputs."""
        if self.mapping is None:
            return int(self.coef.shape[0])
        return int(np.max(self.mapping)) + 1

    def decision_function(self, features: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Scores [..., R] of features [..., C] (one per row, before any mapping), in float32 chunks of pixels."""
        features = np.asarray(features)
        flat = features.reshape(-1, features.shape[-1])
        rows = int(self.coef.shape[0])
        out = np.empty((flat.shape[0], rows), dtype=np.float32)
        coef_t = np.asarray(self.coef, dtype=np.float32).T
        intercept = np.asarray(self.intercept, dtype=np.float32)
        for start in range(0, flat.shape[0], chunk):
            block = np.asarray(flat[start:start + chunk], dtype=np.float32)
            out[start:start + chunk] = block @ coef_t + intercept
        return out.reshape(*features.shape[:-1], rows)

    def predict(self, features: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Cluster ids [...] of features [..., C] (e.g. [N, S, S, C] -> masks [N, S, S])."""
        rows = self.decision_function(features, chunk).argmax(axis=-1)
        return rows if self.mapping is None else np.asarray(self.mapping)[rows]

    def predict_masks(self, features: np.ndarray, size: int, batch: int = 64) -> np.ndarray:
        """Masks [N, size, size] of feature maps [N, S, S, C]: when S != size the scores are resized bilinearly
        first (as the reference's extractor does, spec 1.6), then argmax (and the mapping, if any)."""
        out = []
        for start in range(0, len(features), batch):
            scores = self.decision_function(np.asarray(features[start:start + batch], dtype=np.float32))
            if scores.shape[1] != size:
                t = torch.from_numpy(scores).permute(0, 3, 1, 2)
                t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
                scores = t.permute(0, 2, 3, 1).numpy()
            rows = scores.argmax(axis=-1)
            out.append(rows if self.mapping is None else np.asarray(self.mapping)[rows])
        return np.concatenate(out) if out else np.zeros((0, size, size), dtype=np.int64)


def save_extractors(path: str | os.PathLike, extractors: Mapping[int, LinearExtractor],
                    metadata: Mapping[str, object] | None = None) -> None:
    """Write extractors keyed by K to one safetensors file (atomically); `metadata` goes into its header as JSON."""
    tensors: dict[str, np.ndarray] = {}
    for k, ext in extractors.items():
        tensors[f"k{k}.coef"] = np.ascontiguousarray(ext.coef, dtype=np.float32)
        tensors[f"k{k}.intercept"] = np.ascontiguousarray(ext.intercept, dtype=np.float32)
        if ext.mapping is not None:
            tensors[f"k{k}.mapping"] = np.ascontiguousarray(ext.mapping, dtype=np.int64)
    header = {"format": "klish-extractors/1", "metadata": json.dumps(dict(metadata or {}), sort_keys=True)}
    save_tensors(path, tensors, metadata=header)


def load_extractors(path: str | os.PathLike) -> dict[int, LinearExtractor]:
    """Read the extractors written by `save_extractors`: {K: LinearExtractor}, sorted by K."""
    path = Path(path)
    if not path.is_file():
        raise KlishError(f"{path}: extractor file not found (run the cluster stage first)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise KlishError(f"{path}: not a readable safetensors extractor file ({exc})") from None
    ks = sorted({int(name.split(".")[0][1:]) for name in tensors})
    out = {}
    for k in ks:
        if f"k{k}.coef" not in tensors or f"k{k}.intercept" not in tensors:
            raise KlishError(f"{path}: K={k} lacks its coef or intercept tensor")
        out[k] = LinearExtractor(tensors[f"k{k}.coef"], tensors[f"k{k}.intercept"], tensors.get(f"k{k}.mapping"))
    return out
