"""Synthetic image+mask datasets (spec section 5): GAN samples, each labelled by a clustering method's linear
semantic extractor at a selected K, stored as shards (the world's format, one `train` split) with a dataset card
and a preview grid. Sample i's latent comes from its own seed (seed, i), so the dataset does not depend on the
batch size."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from tqdm import tqdm

from benchmark.data import shards
from klish import atomic
from klish.errors import ConfigError
from klish.extractor import LinearExtractor
from klish.features.extract import generate_with_features
from klish.generators.truncation import truncated, truncation_space
from klish.seeding import sample_latents
from klish.visualize import cluster_palette, to_uint8

log = logging.getLogger(__name__)

PREVIEW = 16


def auto_select_k(merge_metrics: dict[int, float], k_min: int, k_max: int) -> int | None:
    """The K in [k_min, k_max] where KLiSH's merging metric falls the most: the merge K+1 -> K joined two clusters
    that responded alike, the next one K -> K-1 would join far less alike ones, so stop at K. `merge_metrics`
    maps K to the merging metric of the merge made at K. None when the range holds no such pair."""
    drops = {k: merge_metrics[k + 1] - merge_metrics[k] for k in range(k_min, k_max + 1)
             if k in merge_metrics and k + 1 in merge_metrics}
    if not drops:
        return None
    return max(sorted(drops), key=lambda k: drops[k])


def synthesize(generator: nn.Module, extractor: LinearExtractor, out_dir: str | os.PathLike, *,
               layers: Sequence[str], size: int, normalize: str, n_samples: int, seed: int, truncation: float,
               batch_size: int, shard_size: int, card: dict[str, Any]) -> dict[str, Any]:
    """Sample `n_samples` images with their masks (the extractor's argmax on the generator's features, resized to
    the image resolution) into `out_dir` atomically: shards, `manifest.json`, `README.md`, `preview.png`.
    `card` (source GAN, method, K, ...) goes into the manifest and the card. Returns the manifest."""
    k = extractor.n_clusters
    if k > 255:
        raise ConfigError(f"K={k}: masks are stored as uint8, K must be at most 255")
    if n_samples < 1 or batch_size < 1 or shard_size < 1:
        raise ConfigError(f"n_samples, batch_size and shard_size must be positive (got {n_samples}, {batch_size}, "
                          f"{shard_size})")
    generator.eval()
    resolution = generator.resolution
    counts = np.zeros(k, dtype=np.int64)
    palette = cluster_palette(k)
    out_dir = Path(out_dir)
    with atomic.atomic_directory(out_dir) as tmp, truncated(generator, truncation) as z_scale:
        writer = shards.ShardWriter(tmp, "train", shard_size)
        preview: list[tuple[np.ndarray, np.ndarray]] = []
        for start in tqdm(range(0, n_samples, batch_size), desc="make_dataset", unit="batch"):
            stop = min(start + batch_size, n_samples)
            z = sample_latents(seed, range(start, stop), generator.z_dim) * z_scale
            images, features = generate_with_features(generator, z, layers, size, normalize)
            masks = extractor.predict_masks(features.numpy(), resolution).astype(np.uint8)
            images = to_uint8(images.numpy())
            writer.add(images, masks)
            counts += np.bincount(masks.ravel(), minlength=k)
            if sum(len(p[0]) for p in preview) < PREVIEW:
                preview.append((images, masks))
        entry = writer.close()
        manifest = {
            **card, "classes": [f"cluster {i}" for i in range(k)], "palette": [list(c) for c in palette],
            "resolution": resolution, "n_clusters": k, "latent_seed": seed, "truncation": truncation,
            "per_sample_seed": "klish.seeding.sample_seed(latent_seed, i)", "shard_size": shard_size,
            "splits": {"train": entry},
            "format": "npz shards, key 'data': images uint8 [N,H,W,3], masks uint8 [N,H,W] (cluster ids)",
            "cluster_pixel_share": [round(float(c), 6) for c in counts / max(counts.sum(), 1)],
        }
        if truncation_space(generator) == "w":  # z-space truncation is the manifests' long-standing default
            manifest["truncation_space"] = "w"
        atomic.write_json(tmp / shards.MANIFEST, manifest)
        shown_images = np.concatenate([p[0] for p in preview])[:PREVIEW]
        shown_masks = np.concatenate([p[1] for p in preview])[:PREVIEW]
        shards.write_preview(tmp / "preview.png", shown_images, shown_masks, palette)
        atomic.write_text(tmp / "README.md", dataset_card(manifest))
    log.info("synthesized %d samples with %d-cluster masks into %s", n_samples, k, out_dir)
    return manifest


def dataset_card(manifest: dict[str, Any]) -> str:
    """A Markdown card: where the samples and masks come from, how K was chosen, sizes, palette, format."""
    rows = "\n".join(f"| {i} | `#{r:02x}{g:02x}{b:02x}` | {share:.2%} |" for i, ((r, g, b), share)
                     in enumerate(zip(manifest["palette"], manifest["cluster_pixel_share"])))
    gan = manifest.get("generator", {})
    auto = manifest.get("auto_k")
    return f"""# Synthetic dataset: {manifest.get('domain')} / {manifest.get('method')} (clustering seed \
{manifest.get('cluster_seed')})

GAN samples with masks from the `{manifest.get('method')}` semantic extractor at K = {manifest['n_clusters']}:
the mask of a sample is the argmax of the extractor's linear map on the generator's own features (resized to
{manifest['resolution']}x{manifest['resolution']}). Mask ids are cluster ids, not classes: no label was used.

- Generator: `{gan.get('checkpoint')}` ({gan.get('arch')}, sha256 `{gan.get('sha256')}`).
- Extractor: `{manifest.get('clustering')}`, K = {manifest['n_clusters']} ({manifest.get('k_source')});
  automatic choice (largest drop of KLiSH's merging metric): {auto if auto is not None else 'n/a for this method'}.
- {manifest['splits']['train']['n']} samples in `train/`, latent seed {manifest['latent_seed']}, truncation
  {manifest['truncation']}; sample i is a pure function of (seed, i).
- Format: {manifest['format']}; `manifest.json` lists every shard. Preview: `preview.png` (images, masks, overlays).

| cluster | palette | pixel share |
|---|---|---|
{rows}
"""
