"""Feature store: generator features as one fp16 memory-mapped array [N, S, S, C] (channels of the selected layers
concatenated, coarsest first) next to the generated images, the latents and a JSON manifest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from klish.errors import FeatureStoreError

FORMAT = "klish-features/1"
FILES = {"features": "features.npy", "images": "images.npy", "latents": "latents.npy"}
MANIFEST = "manifest.json"


def allocate(directory: str | os.PathLike, *, n: int, size: int, channels: int, image_resolution: int,
             z_dim: int) -> dict[str, np.memmap]:
    """Create the store's arrays in `directory` as writable memmaps (nothing is held in RAM)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shapes = {"features": ((n, size, size, channels), np.float16),
              "images": ((n, image_resolution, image_resolution, 3), np.uint8),
              "latents": ((n, z_dim), np.float32)}
    return {key: np.lib.format.open_memmap(directory / FILES[key], mode="w+", dtype=dtype, shape=shape)
            for key, (shape, dtype) in shapes.items()}


class FeatureStore:
    """Read-only view of a feature store directory; arrays are memory-mapped, so opening it is cheap.

    Examples
    --------
    >>> store = FeatureStore("artifacts/features/face")          # doctest: +SKIP
    >>> store.features.shape                                      # doctest: +SKIP
    (256, 32, 32, 480)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise FeatureStoreError(f"{manifest_path}: feature store manifest not found (run extract_features first)")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise FeatureStoreError(f"{manifest_path}: not valid JSON ({exc.msg})") from None
        if self.manifest.get("format") != FORMAT:
            raise FeatureStoreError(f"{manifest_path}: unsupported format {self.manifest.get('format')!r}")
        arrays = {}
        for key, name in FILES.items():
            file = self.path / name
            if not file.is_file():
                raise FeatureStoreError(f"{file}: missing from the feature store")
            try:
                arrays[key] = np.load(file, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty or truncated file
                reason = str(exc) or "the file is empty or cut short"
                raise FeatureStoreError(f"{file}: unreadable ({reason})") from None
        n, size, channels = self.manifest["n_samples"], self.manifest["size"], self.manifest["channels"]
        expected = {"features": (n, size, size, channels), "images": (n,), "latents": (n,)}
        for key, shape in expected.items():
            if arrays[key].shape[: len(shape)] != shape:
                raise FeatureStoreError(f"{self.path / FILES[key]}: shape {arrays[key].shape} does not match the "
                                        f"manifest (expected {shape}...)")
        self.features: np.ndarray = arrays["features"]  # [N, S, S, C] fp16
        self.images: np.ndarray = arrays["images"]  # [N, R, R, 3] uint8
        self.latents: np.ndarray = arrays["latents"]  # [N, z_dim] float32

    def __len__(self) -> int:
        return int(self.manifest["n_samples"])

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Per selected layer: name, channels, native resolution and channel offset in the concatenation."""
        return self.manifest["layers"]

    def layer_slice(self, name: str) -> slice:
        """Channel slice of layer `name` in the feature array."""
        for layer in self.layers:
            if layer["name"] == name:
                return slice(layer["offset"], layer["offset"] + layer["channels"])
        raise FeatureStoreError(f"{self.path}: no layer {name!r} (has {', '.join(x['name'] for x in self.layers)})")

    def load(self, n: int | None = None) -> np.ndarray:
        """The features of the first `n` images (all by default) as float32 [n, S, S, C]; a non-finite value is a
        one-line error naming the file and how many there are."""
        block = np.asarray(self.features[:n], dtype=np.float32)
        self._check_finite(block)
        return block

    def pixels(self, chunk_images: int = 16) -> Iterator[np.ndarray]:
        """Feature vectors of all pixels, float32 [p, C] chunks of `chunk_images` images (upcast per chunk)."""
        for start in range(0, len(self), chunk_images):
            block = np.asarray(self.features[start:start + chunk_images], dtype=np.float32)
            self._check_finite(block)
            yield block.reshape(-1, block.shape[-1])

    def _check_finite(self, block: np.ndarray) -> None:
        bad = block.size - int(np.count_nonzero(np.isfinite(block)))
        if bad:
            raise FeatureStoreError(f"{self.path / FILES['features']}: {bad} non-finite feature values (NaN or inf) "
                                    f"in the block read; the generator or its extraction diverged (re-run "
                                    f"extract_features on a healthy checkpoint)")
