"""Semantic-conditional synthesis (USCS, spec 4.6): a SPADE-style mask-to-image generator (Park et al., "Semantic Image
Synthesis with Spatially-Adaptive Normalization", CVPR 2019) trained against a multi-scale PatchGAN discriminator
with the hinge loss and discriminator feature matching. The mask is a K-cluster map; a noise code gives diversity.
The stages (benchmark/stages/uscs.py, uscs_supervised.py) train it on synthetic pairs and score it on real images.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from klish import atomic
from klish.errors import CheckpointError, ConfigError
from klish.tensor_files import save_tensors
from klish.visualize import colorize, image_grid

log = logging.getLogger(__name__)


def one_hot(masks: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer masks [N, H, W] to float one-hot maps [N, K, H, W]; an id outside 0..K-1 is a ConfigError."""
    if masks.numel() and (int(masks.min()) < 0 or int(masks.max()) >= n_classes):
        raise ConfigError(f"mask ids must lie in 0..{n_classes - 1} (the network's K), found "
                          f"{int(masks.min())}..{int(masks.max())}")
    return F.one_hot(masks.long(), n_classes).permute(0, 3, 1, 2).float()


class SPADE(nn.Module):
    """Parameter-free BatchNorm whose per-pixel scale and shift are predicted from the (resized) one-hot mask."""

    def __init__(self, channels: int, n_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(n_classes, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        code = self.shared(F.interpolate(segmap, size=x.shape[-2:], mode="nearest"))
        return self.norm(x) * (1 + self.gamma(code)) + self.beta(code)


class SPADEResBlock(nn.Module):
    """SPADE-ReLU-conv twice, with a SPADE + 1x1 conv shortcut when the channel count changes."""

    def __init__(self, cin: int, cout: int, n_classes: int) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.norm0, self.conv0 = SPADE(cin, n_classes), nn.Conv2d(cin, mid, 3, padding=1)
        self.norm1, self.conv1 = SPADE(mid, n_classes), nn.Conv2d(mid, cout, 3, padding=1)
        self.shortcut = None
        if cin != cout:
            self.norm_s, self.shortcut = SPADE(cin, n_classes), nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(self.norm_s(x, segmap))
        h = self.conv0(F.leaky_relu(self.norm0(x, segmap), 0.2))
        h = self.conv1(F.leaky_relu(self.norm1(h, segmap), 0.2))
        return skip + h


class SPADEGenerator(nn.Module):
    """(one-hot masks [N, K, R, R], noise [N, z_dim]) -> images [N, 3, R, R] in [-1, 1]: the noise sets a 4x4 map,
    SPADE residual blocks upsample it to R, the mask modulating every normalisation."""

    def __init__(self, n_classes: int, resolution: int = 32, width: int = 32, z_dim: int = 64) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ConfigError(f"resolution must be a power of two >= 8, got {resolution}")
        self.n_classes, self.resolution, self.width, self.z_dim = n_classes, resolution, width, z_dim
        levels = int(np.log2(resolution)) - 2  # 4 -> R
        channels = [width * 2 ** min(levels - i, 3) for i in range(levels + 1)]  # widest at 4x4, `width` at R
        self.fc = nn.Linear(z_dim, channels[0] * 16)
        self.head = SPADEResBlock(channels[0], channels[0], n_classes)
        self.ups = nn.ModuleList(SPADEResBlock(channels[i], channels[i + 1], n_classes) for i in range(levels))
        self.to_rgb = nn.Conv2d(channels[-1], 3, 3, padding=1)
        self._channels = channels

    def forward(self, segmap: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.head(self.fc(z).view(len(z), self._channels[0], 4, 4), segmap)
        for block in self.ups:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), segmap)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


class PatchDiscriminator(nn.Module):
    """A PatchGAN on (image, one-hot mask) concatenated: strided 4x4 convs then a 3x3 one, instance norm, LeakyReLU;
    returns every intermediate map (for feature matching) and the patch logits last."""

    def __init__(self, n_classes: int, width: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        layers, cin = [], 3 + n_classes
        for i in range(n_layers):
            cout = width * 2 ** i
            norm: nn.Module = nn.InstanceNorm2d(cout) if i else nn.Identity()
            conv = nn.Conv2d(cin, cout, 4, 2, 1) if i < n_layers - 1 else nn.Conv2d(cin, cout, 3, 1, 1)
            layers.append(nn.Sequential(conv, norm, nn.LeakyReLU(0.2)))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.out = nn.Conv2d(cin, 1, 3, 1, 1)

    def forward(self, images: torch.Tensor, segmap: torch.Tensor) -> list[torch.Tensor]:
        x, maps = torch.cat([images, segmap], dim=1), []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        return maps + [self.out(x)]


class MultiScaleDiscriminator(nn.Module):
    """`n_scales` PatchGANs, each on the pair average-pooled by a further factor of 2."""

    def __init__(self, n_classes: int, width: int = 32, n_scales: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(n_classes, width) for _ in range(n_scales))

    def forward(self, images: torch.Tensor, segmap: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, disc in enumerate(self.scales):
            if i:
                images, segmap = F.avg_pool2d(images, 2), F.avg_pool2d(segmap, 2)
            outputs.append(disc(images, segmap))
        return outputs


def discriminator_hinge_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Hinge loss of the discriminator, summed over scales: relu(1 - D(real)) + relu(1 + D(fake))."""
    return sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake))


def generator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]], fm_weight: float) -> torch.Tensor:
    """The generator's hinge loss -D(fake) plus `fm_weight` times the L1 feature-matching loss against the real
    pair's (detached) intermediate maps, both summed over scales."""
    adversarial = sum(-f[-1].mean() for f in fake)
    matching = sum(F.l1_loss(fm, rm.detach()) for r, f in zip(real, fake) for rm, fm in zip(r[:-1], f[:-1]))
    return adversarial + fm_weight * matching


@dataclass
class UscsTrainingResult:
    """The trained generator (eval mode), the discriminator, the loss history and the training seconds."""

    generator: SPADEGenerator
    discriminator: MultiScaleDiscriminator
    history: list[dict[str, float]] = field(default_factory=list)


def train_uscs(images: np.ndarray, masks: np.ndarray, generator: SPADEGenerator,
               discriminator: MultiScaleDiscriminator, *, steps: int, batch_size: int, lr_generator: float,
               lr_discriminator: float, seed: int, fm_weight: float = 10.0, log_every: int = 50, device: str = "cpu",
               progress: bool = True) -> UscsTrainingResult:
    """Train on pairs (uint8 RGB images [N, R, R, 3], cluster masks [N, R, R]): one discriminator and one generator
    update per step, Adam with betas (0, 0.9) and the two learning rates (SPADE's TTUR: 1e-4 and 4e-4), batches and
    noise drawn from `seed`."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ConfigError(f"expected RGB images [N, R, R, 3], got shape {images.shape}")
    if masks.shape != images.shape[:3]:
        raise ConfigError(f"masks {masks.shape} do not match images {images.shape[:3]}")
    if images.shape[1] != generator.resolution:
        raise ConfigError(f"images are {images.shape[1]}px, the generator makes {generator.resolution}px")
    segmaps = one_hot(torch.from_numpy(masks), generator.n_classes)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    gen = torch.Generator().manual_seed(seed)
    generator.to(device).train()
    discriminator.to(device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_generator, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_discriminator, betas=(0.0, 0.9))
    history: list[dict[str, float]] = []
    for step in tqdm(range(1, steps + 1), desc="train_uscs", unit="step", disable=not progress, mininterval=2.0):
        idx = torch.randint(len(x), (batch_size,), generator=gen)
        real, seg = x[idx].to(device), segmaps[idx].to(device)
        z = torch.randn(batch_size, generator.z_dim, generator=gen).to(device)
        fake = generator(seg, z)
        d_loss = discriminator_hinge_loss(discriminator(real, seg), discriminator(fake.detach(), seg))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(discriminator(real, seg), discriminator(fake, seg), fm_weight)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % log_every == 0 or step == steps:
            history.append({"step": float(step), "d_loss": d_loss.item(), "g_loss": g_loss.item()})
    generator.eval()
    discriminator.eval()
    return UscsTrainingResult(generator, discriminator, history)


@torch.no_grad()
def synthesize(generator: SPADEGenerator, masks: np.ndarray, seed: int, batch_size: int = 64,
               device: str = "cpu") -> np.ndarray:
    """Images uint8 [N, R, R, 3] painted from cluster masks [N, R, R], with noise drawn from `seed` (per image, so
    the result does not depend on `batch_size`)."""
    generator.eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(len(masks), generator.z_dim, generator=gen)
    out = []
    for s in range(0, len(masks), batch_size):
        seg = one_hot(torch.from_numpy(masks[s:s + batch_size]), generator.n_classes).to(device)
        images = generator(seg, z[s:s + batch_size].to(device))
        out.append(((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def save_generator(path: str | os.PathLike, generator: SPADEGenerator, info: dict[str, Any]) -> None:
    """Weights to `path` (safetensors) and the constructor arguments + `info` to its .json sidecar, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()})
    kwargs = {"n_classes": generator.n_classes, "resolution": generator.resolution, "width": generator.width,
              "z_dim": generator.z_dim}
    atomic.write_json(path.with_suffix(".json"), {"arch": "spade", "kwargs": kwargs, **info})


def load_generator(path: str | os.PathLike) -> tuple[SPADEGenerator, dict[str, Any]]:
    """The mask-to-image generator saved by `save_generator`, in eval mode, and its sidecar."""
    path = Path(path)
    sidecar_path = path.with_suffix(".json")
    for file in (path, sidecar_path):
        if not file.is_file():
            raise CheckpointError(f"{file}: USCS generator file not found (run the uscs stage first)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        generator = SPADEGenerator(**sidecar["kwargs"])
        generator.load_state_dict(load_file(str(path)))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{sidecar_path}: malformed USCS generator sidecar ({exc})") from None
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot load USCS generator weights ({str(exc).splitlines()[0]})") from None
    return generator.eval(), sidecar


def triplet_picture(masks: np.ndarray, synthesized: np.ndarray, real: np.ndarray,
                    palette: list[tuple[int, int, int]]) -> np.ndarray:
    """Rows of (input mask, synthesised image, the real image the mask came from) triplets, side by side."""
    scale = max(1, 64 // synthesized.shape[1])
    triplets = np.stack([colorize(masks, palette), synthesized, real], axis=1)  # [N, 3, R, R, 3]
    return image_grid(triplets.reshape(-1, *triplets.shape[2:]), ncol=3 * min(4, len(masks)), scale=scale)
