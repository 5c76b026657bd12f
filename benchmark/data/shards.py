"""Image/mask datasets stored as numbered .npz shards with a JSON manifest (not one file per sample: DVC is slow
with many small files)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmark.json_inputs import read_json
from klish import atomic
from klish.errors import KlishError
from klish.visualize import colorize, image_grid, overlay, save_png

MANIFEST = "manifest.json"


class DatasetError(KlishError):
    """A dataset folder, manifest or shard is missing or corrupt."""


def shard_name(part: str, number: int) -> str:
    """File name of shard `number` of `part` ("images" or "masks")."""
    return f"{part}-{number:05d}.npz"


def write_preview(path: Path, images: np.ndarray, masks: np.ndarray, palette: Sequence[Sequence[int]]) -> None:
    """Three rows: images, colourised masks, overlays (upscaled so 32x32 samples are visible)."""
    scale = max(1, 96 // images.shape[1])
    ncol = len(images)
    rows = [image_grid(images, ncol, scale=scale), image_grid(colorize(masks, palette), ncol, scale=scale),
            image_grid(overlay(images, masks, palette), ncol, scale=scale)]
    save_png(path, np.concatenate(rows))


def write_shard(path: Path, array: np.ndarray) -> None:
    """Write one shard (a single array under the key "data") atomically, compressed."""
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, data=array)


class ShardWriter:
    """Collects image/mask batches of one split and writes them as shards of exactly `shard_size` samples (the last
    may be shorter) under `root/split/`; `close()` returns the split's manifest entry."""

    def __init__(self, root: Path, split: str, shard_size: int) -> None:
        self.folder = Path(root) / split
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.names: dict[str, list[str]] = {"images": [], "masks": []}
        self.buffers: dict[str, list[np.ndarray]] = {"images": [], "masks": []}
        self.buffered = 0
        self.n = 0

    def add(self, images: np.ndarray, masks: np.ndarray) -> None:
        """Append a batch: images uint8 [B, H, W, 3], masks uint8 [B, H, W]."""
        while len(images):
            take = min(len(images), self.shard_size - self.buffered)
            self.buffers["images"].append(images[:take])
            self.buffers["masks"].append(masks[:take])
            self.buffered += take
            self.n += take
            images, masks = images[take:], masks[take:]
            if self.buffered == self.shard_size:
                self._flush()

    def _flush(self) -> None:
        number = len(self.names["images"])
        for part, buffer in self.buffers.items():
            name = shard_name(part, number)
            write_shard(self.folder / name, np.concatenate(buffer))
            self.names[part].append(name)
            buffer.clear()
        self.buffered = 0

    def close(self) -> dict:
        """Write the last partial shard; the manifest entry {"n", "shards": {"images": [...], "masks": [...]}}."""
        if self.buffered:
            self._flush()
        return {"n": self.n, "shards": self.names}


def load_manifest(root: str | Path) -> dict:
    """The manifest of the dataset at `root`, with a one-line error when it is missing or unreadable."""
    return read_json(Path(root) / MANIFEST, "dataset manifest not found (render the dataset first, e.g. `dvc repro`)",
                     DatasetError)


def read_split(root: str | Path, split: str, part: str = "images", n_ids: int | None = None) -> np.ndarray:
    """Concatenate every shard of `part` of `split` listed in the manifest: [N, H, W, 3] or [N, H, W] uint8. With
    `n_ids`, every mask id must be below it (the declared classes or clusters)."""
    root = Path(root)
    manifest = load_manifest(root)
    splits = manifest.get("splits", {})
    if split not in splits:
        raise DatasetError(f"{root / MANIFEST}: no split {split!r} (has: {', '.join(splits) or 'none'})")
    entry = splits[split]
    if part not in entry.get("shards", {}):
        raise DatasetError(f"{root / MANIFEST}: split {split!r} has no {part!r} (has: {', '.join(entry['shards'])})")
    arrays = []
    for name in entry["shards"][part]:
        path = root / split / name
        if not path.is_file():
            raise DatasetError(f"{path}: shard listed in {MANIFEST} is missing (re-render the dataset)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays.append(npz["data"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{path}: corrupt shard ({type(exc).__name__}: {exc})") from None
        if n_ids is not None and arrays[-1].size and int(arrays[-1].max()) >= n_ids:
            raise DatasetError(f"{path}: mask id {int(arrays[-1].max())} outside the {n_ids} declared ids "
                               f"(0..{n_ids - 1})")
    data = np.concatenate(arrays) if arrays else np.zeros((0,), dtype=np.uint8)
    if len(data) != entry["n"]:
        raise DatasetError(f"{root / split}: {part} shards hold {len(data)} samples, manifest says {entry['n']}")
    return data
