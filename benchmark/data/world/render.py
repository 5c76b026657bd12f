"""Render a world domain to sharded train/test splits with a manifest, a dataset card and a preview grid."""

from __future__ import annotations

import logging
import multiprocessing
import os
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmark.data import shards
from benchmark.data.world import get_domain, render_sample
from klish import atomic

log = logging.getLogger(__name__)


def _render_chunk(indices: list[int], domain: str, seed: int, split: str, resolution: int,
                  supersample: int, appearance: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [render_sample(domain, seed, split, i, resolution, supersample, appearance) for i in indices]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def render_split(domain: str, out_dir: Path, split: str, n: int, *, seed: int, resolution: int, supersample: int,
                 shard_size: int, workers: int, appearance: str = "consistent") -> dict:
    """Render `n` samples of `split` into `out_dir/split/{images,masks}-NNNNN.npz`; returns the manifest entry."""
    chunk = 64  # unit of work for the pool; output is identical for any chunk size or worker count
    chunks = [list(range(s, min(s + chunk, n))) for s in range(0, n, chunk)]
    work = partial(_render_chunk, domain=domain, seed=seed, split=split, resolution=resolution,
                   supersample=supersample, appearance=appearance)
    writer = shards.ShardWriter(out_dir, split, shard_size)
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(work, chunks) if pool else map(work, chunks)
        with tqdm(total=n, desc=f"render {domain}/{split}", unit="img", leave=False) as bar:
            for images, masks in results:
                writer.add(images, masks)
                bar.update(len(images))
    finally:
        if pool:
            pool.close()
            pool.join()
    return writer.close()


def render_world(domain: str, out_dir: str | os.PathLike, *, seed: int, resolution: int, n_train: int, n_test: int,
                 supersample: int = 4, shard_size: int = 1000, workers: int = 1,
                 appearance: str = "consistent") -> dict:
    """Render a whole domain into `out_dir` atomically (built in a temporary folder, then moved); returns the manifest.

    Train masks are stored in separate shards: the GAN reads only images; masks are for supervised reference rows.
    """
    spec = get_domain(domain)
    out_dir = Path(out_dir)
    with atomic.atomic_directory(out_dir) as tmp:
        splits = {split: render_split(domain, tmp, split, n, seed=seed, resolution=resolution,
                                      supersample=supersample, shard_size=shard_size, workers=workers,
                                      appearance=appearance)
                  for split, n in (("train", n_train), ("test", n_test))}
        manifest = {
            "domain": domain, "classes": list(spec.classes), "palette": [list(c) for c in spec.palette],
            "resolution": resolution, "supersample": supersample, "seed": seed, "shard_size": shard_size,
            "appearance": appearance,
            "splits": splits, "format": "npz shards, key 'data': images uint8 [N,H,W,3], masks uint8 [N,H,W]",
        }
        atomic.write_json(tmp / shards.MANIFEST, manifest)
        test_images = shards.read_split(tmp, "test", "images")
        test_masks = shards.read_split(tmp, "test", "masks")
        counts = np.bincount(test_masks.ravel(), minlength=len(spec.classes)) / max(test_masks.size, 1)
        shards.write_preview(tmp / "preview.png", test_images[:16], test_masks[:16], spec.palette)
        atomic.write_text(tmp / "README.md", dataset_card(manifest, spec.description, counts))
    log.info("rendered %s: %d train + %d test images at %dx%d into %s", domain, n_train, n_test, resolution,
             resolution, out_dir)
    return manifest


APPEARANCE_NOTES = {
    "consistent": "consistent (parts have their typical look, global colour varies moderately)",
    "random": "random (every painted shape a uniformly random colour; shapes and masks as in the consistent world)",
}


def dataset_card(manifest: dict, description: str, class_fraction: np.ndarray) -> str:
    """A Markdown dataset card: what it is, its classes with palette and pixel share, sizes, seed, format."""
    rows = "\n".join(
        f"| {i} | {name} | `#{r:02x}{g:02x}{b:02x}` | {class_fraction[i]:.2%} |"
        for i, (name, (r, g, b)) in enumerate(zip(manifest["classes"], manifest["palette"])))
    splits = manifest["splits"]
    res, ss = manifest["resolution"], manifest["supersample"]
    return f"""# World dataset: {manifest['domain']}

Procedural {manifest['domain']} images with exact per-pixel class ids, rendered by
`benchmark/data/world/{manifest['domain']}.py`: {description}.

- Resolution {res}x{res}, anti-aliased by {ss}x{ss} supersampling
  (image = box filter of the sub-samples; mask = majority class of the sub-samples).
- Appearance: {APPEARANCE_NOTES[manifest.get('appearance', 'consistent')]}.
- Sample i of a split is a pure function of (seed={manifest['seed']}, split, i): re-rendering gives identical bytes.
- `train`: {splits['train']['n']} images, what the GAN sees. Its masks are stored in separate shards and are used only
  for supervised reference rows.
- `test`: {splits['test']['n']} images with masks, the real evaluation set.
- Format: {manifest['format']}; `manifest.json` lists every shard. Preview: `preview.png` (images, masks, overlays).

| id | class | palette | pixel share (test) |
|---|---|---|---|
{rows}
"""
