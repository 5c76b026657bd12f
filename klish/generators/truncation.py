"""Truncation the same way for every generator: in W space for style-based generators (those with a
`truncation_psi` setting: w <- w_avg + psi (w - w_avg)), otherwise by scaling z (z <- psi z)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


def truncation_space(generator: nn.Module) -> str:
    """"w" when `generator` truncates its own intermediate latents, "z" when the caller scales z."""
    return "w" if hasattr(generator, "truncation_psi") else "z"


@contextmanager
def truncated(generator: nn.Module, psi: float) -> Iterator[float]:
    """While active, `generator` samples with truncation `psi`; yields the factor to multiply z by (1 in W space)."""
    if truncation_space(generator) == "z":
        yield psi
        return
    saved = generator.truncation_psi
    generator.truncation_psi = psi
    try:
        yield 1.0
    finally:
        generator.truncation_psi = saved
