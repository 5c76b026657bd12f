"""GAN training with the non-saturating loss (Goodfellow et al. 2014), Adam, and an exponential moving average of the
generator weights (Karras et al. 2018) whose BatchNorm statistics are re-estimated at the end."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from klish.errors import ConfigError
from klish.seeding import sample_latents

log = logging.getLogger(__name__)


@dataclass
class GanTrainingResult:
    """The EMA generator (eval mode), the discriminator, the loss history and the wall time."""

    generator: nn.Module
    discriminator: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class LossHistory:
    """Mean losses and discriminator outputs over every `log_every` steps (and the last step), with the training
    seconds so far; each record also goes to `callback`."""

    def __init__(self, log_every: int, steps: int, callback: Callable[[dict[str, float]], None] | None) -> None:
        self.log_every, self.steps, self.callback = log_every, steps, callback
        self.history: list[dict[str, float]] = []
        self._running = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        self._count = 0
        self._start = time.perf_counter()

    def elapsed(self, paused: float = 0.0) -> float:
        """Seconds since training began, less `paused`."""
        return time.perf_counter() - self._start - paused

    def add(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor, logits_real: torch.Tensor,
            logits_fake: torch.Tensor, paused: float = 0.0) -> None:
        """Accumulate one step; write a record when the step is due."""
        self._running["d_loss"] += d_loss.item()
        self._running["g_loss"] += g_loss.item()
        self._running["d_real"] += torch.sigmoid(logits_real).mean().item()
        self._running["d_fake"] += torch.sigmoid(logits_fake).mean().item()
        self._count += 1
        if step % self.log_every == 0 or step == self.steps:
            record = {"step": float(step), **{k: v / self._count for k, v in self._running.items()},
                      "seconds": self.elapsed(paused)}
            self.history.append(record)
            if self.callback is not None:
                self.callback(record)
            self._running = dict.fromkeys(self._running, 0.0)
            self._count = 0


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] to float [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers are copied."""
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm(generator: nn.Module, z_dim: int, *, batches: int, batch_size: int, seed: int,
                          device: str = "cpu") -> None:
    """Re-estimate BatchNorm running statistics of `generator` as exact averages over `batches` fresh batches, so the
    eval-mode (per-sample, batch-independent) generator matches its own weights rather than the live model's."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over the batches seen
    generator.train()
    for b in range(batches):
        generator(sample_latents(seed, range(b * batch_size, (b + 1) * batch_size), z_dim, stream=7).to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    generator.eval()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, weight: float, optimizer: torch.optim.Optimizer) -> float:
    """One discriminator step on weight / 2 * mean |d D(x) / dx|^2 over the real batch (Mescheder et al. 2018)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)
    penalty = grad.square().sum(dim=(1, 2, 3)).mean()
    optimizer.zero_grad(set_to_none=True)
    (0.5 * weight * penalty).backward()
    optimizer.step()
    return float(penalty.detach())


def train_gan(images: np.ndarray, generator: nn.Module, discriminator: nn.Module, *, steps: int, batch_size: int,
              lr: float, betas: tuple[float, float], ema_decay: float, seed: int, log_every: int = 50,
              bn_batches: int = 20, device: str = "cpu", callback: Callable[[dict[str, float]], None] | None = None,
              progress: bool = True, snapshot_steps: Sequence[int] = (),
              on_snapshot: Callable[[int, nn.Module], None] | None = None, r1_gamma: float = 0.0,
              r1_every: int = 16) -> GanTrainingResult:
    """Train `generator` against `discriminator` on `images` (uint8 [N, H, W, 3]) for `steps` steps.

    Each step does one discriminator and one generator update with the non-saturating logistic loss. Every
    `log_every` steps the mean losses since the last record go to the history and to `callback`. At each of
    `snapshot_steps`, `on_snapshot(step, g)` gets a copy of the EMA generator prepared exactly as the final one
    (BatchNorm recalibrated, eval mode); the time it takes is not counted in the history's `seconds`.
    `r1_gamma` > 0 adds the R1 penalty (gamma / 2) E|grad D(x_real)|^2 every `r1_every` steps, scaled by
    `r1_every` (StyleGAN2's lazy regularisation).
    """
    if any(not 1 <= s <= steps for s in snapshot_steps):
        raise ConfigError(f"snapshot steps must lie in 1..{steps}, got {sorted(snapshot_steps)}")
    if len(images) < batch_size:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set ({len(images)} images)")
    z_dim = generator.z_dim
    data = images_to_tensor(images)  # [N, 3, H, W]
    if data.shape[-1] != generator.resolution:
        raise ConfigError(f"images are {data.shape[-1]}x{data.shape[-1]} but the generator makes "
                          f"{generator.resolution}x{generator.resolution}")
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same draws whatever the device
    generator.to(device)
    discriminator.to(device)
    ema = copy.deepcopy(generator).eval()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    generator.train()
    discriminator.train()
    losses = LossHistory(log_every, steps, callback)
    paused = 0.0  # seconds spent in on_snapshot
    for step in tqdm(range(1, steps + 1), desc="train_gan", unit="step", disable=not progress, mininterval=2.0):
        real = data[torch.randint(len(data), (batch_size,), generator=gen)].to(device)
        z = torch.randn(batch_size, z_dim, generator=gen).to(device)
        fake = generator(z)
        logits_real = discriminator(real)
        logits_fake = discriminator(fake.detach())
        d_loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if r1_gamma > 0 and step % r1_every == 0:
            r1_penalty(discriminator, real, r1_gamma * r1_every, opt_d)

        g_loss = F.softplus(-discriminator(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        update_ema(ema, generator, ema_decay)

        losses.add(step, d_loss, g_loss, logits_real, logits_fake, paused)
        if on_snapshot is not None and step in snapshot_steps:
            began = time.perf_counter()
            snapshot = copy.deepcopy(ema)
            recalibrate_batchnorm(snapshot, z_dim, batches=bn_batches, batch_size=batch_size, seed=seed,
                                  device=device)
            on_snapshot(step, snapshot)
            paused += time.perf_counter() - began
    recalibrate_batchnorm(ema, z_dim, batches=bn_batches, batch_size=batch_size, seed=seed, device=device)
    discriminator.eval()
    seconds = losses.elapsed(paused)
    log.info("trained %d steps in %.1f s", steps, seconds)
    return GanTrainingResult(generator=ema, discriminator=discriminator, history=losses.history, seconds=seconds)
