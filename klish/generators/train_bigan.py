"""BiGAN training (Donahue et al. 2017): the discriminator learns to tell (x, E(x)) from (G(z), z); the generator and
the encoder, updated together, learn to make it fail (the non-saturating logistic loss with the labels swapped)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from klish.errors import ConfigError
from klish.generators.train import LossHistory, images_to_tensor, recalibrate_batchnorm

log = logging.getLogger(__name__)


@dataclass
class BiGANTrainingResult:
    """The generator (BatchNorm recalibrated, eval mode), the encoder and discriminator (eval mode), the history."""

    generator: nn.Module
    encoder: nn.Module
    discriminator: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def train_bigan(images: np.ndarray, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module, *, steps: int,
                batch_size: int, lr: float, betas: tuple[float, float], seed: int, log_every: int = 50,
                bn_batches: int = 20, device: str = "cpu", callback: Callable[[dict[str, float]], None] | None = None,
                progress: bool = True) -> BiGANTrainingResult:
    """Train G and E against the joint discriminator D on `images` (uint8 [N, H, W, C]) for `steps` steps: one D
    update, then one joint G+E update per step. History records as `train_gan` (g_loss is the G+E loss)."""
    if len(images) < batch_size:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set ({len(images)} images)")
    data = images_to_tensor(images)
    if data.shape[-1] != generator.resolution or data.shape[-1] != encoder.resolution:
        raise ConfigError(f"images are {data.shape[-1]}x{data.shape[-1]} but the generator and encoder work at "
                          f"{generator.resolution} and {encoder.resolution}")
    if generator.z_dim != encoder.z_dim:
        raise ConfigError(f"generator z_dim {generator.z_dim} differs from the encoder's {encoder.z_dim}")
    gen = torch.Generator().manual_seed(seed)
    for net in (generator, encoder, discriminator):
        net.to(device).train()
    opt_ge = torch.optim.Adam([*generator.parameters(), *encoder.parameters()], lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    losses = LossHistory(log_every, steps, callback)
    for step in tqdm(range(1, steps + 1), desc="train_bigan", unit="step", disable=not progress, mininterval=2.0):
        real = data[torch.randint(len(data), (batch_size,), generator=gen)].to(device)
        z = torch.randn(batch_size, generator.z_dim, generator=gen).to(device)
        # dropout masks come from the global generator: seed it from `gen` so the run depends on `seed` only
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        encoded, fake = encoder(real), generator(z)
        logits_real = discriminator(real, encoded.detach())
        logits_fake = discriminator(fake.detach(), z)
        d_loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        ge_loss = F.softplus(discriminator(real, encoded)).mean() + F.softplus(-discriminator(fake, z)).mean()
        opt_ge.zero_grad(set_to_none=True)
        ge_loss.backward()
        opt_ge.step()
        losses.add(step, d_loss, ge_loss, logits_real, logits_fake)
    recalibrate_batchnorm(generator, generator.z_dim, batches=bn_batches, batch_size=batch_size, seed=seed,
                          device=device)
    encoder.eval()
    discriminator.eval()
    seconds = losses.elapsed()
    log.info("trained BiGAN %d steps in %.1f s", steps, seconds)
    return BiGANTrainingResult(generator=generator.eval(), encoder=encoder, discriminator=discriminator,
                               history=losses.history, seconds=seconds)
