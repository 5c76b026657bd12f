"""Generator feature extraction as in the KLiSH reference (spec section 1): hook the selected layers, resize each map
bilinearly (align_corners=True, no antialiasing) to the working resolution S, optionally normalise each layer, and
concatenate along channels, coarsest layer first. Streams batches into a memory-mapped store."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from klish import atomic
from klish.errors import ConfigError
from klish.features import store
from klish.features.hooks import FeatureRecorder, feature_shapes
from klish.features.selection import resolve_layers
from klish.generators.truncation import truncated, truncation_space
from klish.seeding import sample_latents
from klish.visualize import to_uint8

log = logging.getLogger(__name__)

NORMALIZATIONS = ("none", "l2")


def prepare_maps(maps: Sequence[torch.Tensor], size: int, normalize: str = "none") -> torch.Tensor:
    """Resize each map [B, C_l, h, h] to [B, C_l, S, S], normalise per layer, concatenate: [B, S, S, sum C_l]."""
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    out = []
    for fmap in maps:
        if normalize == "l2":  # each layer's per-pixel vector to unit length, so no layer dominates distances
            fmap = F.normalize(fmap, dim=1, eps=1e-8)
        if fmap.shape[-1] != size:
            fmap = F.interpolate(fmap, size=(size, size), mode="bilinear", align_corners=True)
        out.append(fmap)
    return torch.cat(out, dim=1).permute(0, 2, 3, 1)


@torch.no_grad()
def generate_with_features(generator: nn.Module, z: torch.Tensor, layers: Sequence[str], size: int,
                           normalize: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """One eval-mode forward: images [B, 3, R, R] in [-1, 1] and features [B, S, S, C]."""
    with FeatureRecorder(generator, layers) as rec:
        images = generator(z)
    return images, prepare_maps([rec.maps[n] for n in layers], size, normalize)


def extract_features(generator: nn.Module, out_dir: str | os.PathLike, *, n_samples: int, seed: int, size: int,
                     batch_size: int = 16, layers: str | Sequence[str] = "auto", max_channels: int = 1000,
                     normalize: str = "none", truncation: float = 1.0, generator_info: dict[str, Any] | None = None,
                     progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Sample `n_samples` images and their features into a feature store at `out_dir` (written atomically).

    Sample i's latent is z_i ~ N(0, I) drawn from its own generator seeded by (seed, i), truncated by `truncation`
    (klish.generators.truncation: in W space for StyleGAN2, z scaled otherwise), and
    the generator runs in eval mode, so the store does not depend on `batch_size`. Peak memory is the store's
    memmaps plus one batch. Returns the manifest.
    """
    if n_samples < 1 or batch_size < 1 or size < 1:
        raise ConfigError(f"n_samples, batch_size and size must be positive (got {n_samples}, {batch_size}, {size})")
    generator.eval().to(device)
    z_dim = generator.z_dim
    shapes = feature_shapes(generator, z_dim)
    selected = resolve_layers(layers, shapes, max_channels)
    by_name = {n: (c, h) for n, c, h in shapes}
    layer_info, offset = [], 0
    for name in selected:
        channels, height = by_name[name]
        layer_info.append({"name": name, "channels": channels, "resolution": height, "offset": offset})
        offset += channels
    resolution = generator.resolution
    out_dir = Path(out_dir)
    with atomic.atomic_directory(out_dir) as tmp, truncated(generator, truncation) as z_scale:
        arrays = store.allocate(tmp, n=n_samples, size=size, channels=offset, image_resolution=resolution,
                                z_dim=z_dim)
        for start in tqdm(range(0, n_samples, batch_size), desc="extract_features", unit="batch",
                          disable=not progress):
            stop = min(start + batch_size, n_samples)
            z = sample_latents(seed, range(start, stop), z_dim) * z_scale  # [B, z_dim]
            images, feats = generate_with_features(generator, z.to(device), selected, size, normalize)
            arrays["features"][start:stop] = feats.cpu().numpy().astype(np.float16)
            arrays["images"][start:stop] = to_uint8(images.cpu().numpy())
            arrays["latents"][start:stop] = z.numpy()
        for array in arrays.values():
            array.flush()
        del arrays
        manifest = {
            "format": store.FORMAT, "n_samples": n_samples, "size": size, "channels": offset,
            "image_resolution": resolution, "layers": layer_info, "layer_request": layers,
            "max_channels": max_channels, "normalize": normalize, "resize": "bilinear, align_corners=True",
            "dtype": "float16", "layout": "[N, S, S, C]",
            "latent": {"distribution": "normal", "dim": z_dim, "truncation": truncation, "seed": seed,
                       "per_sample_seed": "klish.seeding.sample_seed(seed, i)"},
            "generator": generator_info or {},
        }
        if truncation_space(generator) == "w":  # z-space truncation is the manifests' long-standing default
            manifest["latent"]["truncation_space"] = "w"
        atomic.write_json(tmp / store.MANIFEST, manifest)
    log.info("extracted %d samples, %d channels from layers %s at %dx%d into %s", n_samples, offset,
             ", ".join(selected), size, size, out_dir)
    return manifest
