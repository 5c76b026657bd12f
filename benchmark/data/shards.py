"""Image/mask datasets stored as numbered .npz shards with a JSON manifest (not one file per sample: DVC is slow
with many small files)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from klish import atomic
from klish.errors import KlishError

MANIFEST = "manifest.json"


class DatasetError(KlishError):
    """A dataset folder, manifest or shard is missing or corrupt."""


def shard_name(part: str, number: int) -> str:
    """File name of shard `number` of `part` ("images" or "masks")."""
    return f"{part}-{number:05d}.npz"


def write_shard(path: Path, array: np.ndarray) -> None:
    """Write one shard (a single array under the key "data") atomically, compressed."""
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, data=array)


def load_manifest(root: str | Path) -> dict:
    """The manifest of the dataset at `root`, with a one-line error when it is missing or unreadable."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{path}: dataset manifest not found (render the dataset first, e.g. `dvc repro`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_split(root: str | Path, split: str, part: str = "images") -> np.ndarray:
    """Concatenate every shard of `part` of `split` listed in the manifest: [N, H, W, 3] or [N, H, W] uint8."""
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
    data = np.concatenate(arrays) if arrays else np.zeros((0,), dtype=np.uint8)
    if len(data) != entry["n"]:
        raise DatasetError(f"{root / split}: {part} shards hold {len(data)} samples, manifest says {entry['n']}")
    return data
