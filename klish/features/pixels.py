"""Pixel-colour features of generated images: the input of the clustering evaluation's floor rows. A clustering of
generator features that does no better than K-means on the image's own colours (optionally with the pixel position)
has not found anything the image did not already show."""

from __future__ import annotations

import numpy as np


def pixel_features(images: np.ndarray, position: bool = False) -> np.ndarray:
    """RGB images [N, H, W, 3] uint8 -> features [N, H, W, 3] in [0, 1], or [N, H, W, 5] with the pixel centre's
    (row, column) in [0, 1] appended when `position` is set (so colour and position have comparable ranges)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got shape {images.shape}")
    colour = images.astype(np.float32) / 255.0
    if not position:
        return colour
    n, h, w, _ = images.shape
    rows = (np.arange(h, dtype=np.float32) + 0.5) / h
    cols = (np.arange(w, dtype=np.float32) + 0.5) / w
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)  # [H, W, 2]
    return np.concatenate([colour, np.broadcast_to(grid, (n, h, w, 2))], axis=-1)
