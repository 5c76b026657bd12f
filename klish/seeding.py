"""Seeding: one global seed per stage, and one independent seed per generated sample (batch-size independent)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def sample_seed(seed: int, index: int, stream: int = 0) -> int:
    """Seed of sample `index` under the global `seed` (and an optional stream id): independent of batching."""
    state = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Numpy generator of sample `index`: the same numbers whichever batch or worker renders it."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), int(index)]))


def sample_latents(seed: int, indices: range | list[int], dim: int, stream: int = 0) -> torch.Tensor:
    """Standard-normal latents, row i drawn from its own generator seeded by (seed, stream, indices[i])."""
    out = torch.empty(len(indices), dim)
    gen = torch.Generator()
    for row, index in enumerate(indices):
        gen.manual_seed(sample_seed(seed, index, stream))
        out[row] = torch.randn(dim, generator=gen)
    return out  # [N, dim]
