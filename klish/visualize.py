"""Pictures people would rather look at than read: image grids, colourised masks and mask overlays."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from klish import atomic


def colorize(mask: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Class-id mask [..., H, W] to RGB uint8 [..., H, W, 3]; ids beyond the palette cycle through it."""
    table = np.asarray(palette, dtype=np.uint8)
    return table[np.asarray(mask) % len(table)]


def overlay(images: np.ndarray, masks: np.ndarray, palette: Sequence[Sequence[int]], alpha: float = 0.5) -> np.ndarray:
    """Blend colourised masks over images: uint8 [..., H, W, 3]."""
    colours = colorize(masks, palette).astype(np.float32)
    return np.round((1 - alpha) * images.astype(np.float32) + alpha * colours).astype(np.uint8)


def image_grid(images: np.ndarray, ncol: int, pad: int = 1, scale: int = 1, fill: int = 255) -> np.ndarray:
    """Tile images [N, H, W, 3] uint8 into one grid image, `ncol` per row, upscaled by `scale` (nearest)."""
    images = np.asarray(images)
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = images.shape
    nrow = max(1, -(-n // ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
    return grid


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB uint8 array as a PNG, atomically."""
    with atomic.atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format="PNG")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1], [N, 3, H, W] float, to uint8 [N, H, W, 3]."""
    images = np.asarray(images, dtype=np.float32)
    return np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)


def cluster_palette(k: int) -> list[tuple[int, int, int]]:
    """k distinct RGB colours for cluster ids: matplotlib's tab20, then evenly spaced hues beyond 20."""
    from matplotlib import colormaps

    if k <= 20:
        colours = colormaps["tab20"](np.arange(k))
    else:
        colours = colormaps["hsv"](np.linspace(0, 1, k, endpoint=False))
    return [tuple(int(round(255 * c)) for c in rgba[:3]) for rgba in colours]
