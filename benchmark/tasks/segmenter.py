"""A small semantic segmentation network in plain torch (a UNet), its training loop, prediction and evaluation.

It serves as the supervised parser that stands in for ground truth on GAN samples (spec section 4.1: the
reference uses a DeepLabV3+ face parser trained on CelebAMask-HQ) and as the UFS segmenter. Images are uint8
[N, H, W, 3]; masks are integer class ids [N, H, W]. Its scores are `klish.metrics.segmentation`'s (one definition
per protocol).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
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
from klish.errors import CheckpointError
from klish.tensor_files import save_tensors

log = logging.getLogger(__name__)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """UNet with `depth` halvings; `width` channels at full resolution, doubling per level."""

    def __init__(self, n_classes: int, width: int = 16, depth: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        self.n_classes, self.width, self.depth = n_classes, width, depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, chans[0])] + [_block(chans[i], chans[i + 1])
                                                                    for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(depth)])
        self.merge = nn.ModuleList([_block(2 * chans[i], chans[i]) for i in range(depth)])
        self.head = nn.Conv2d(chans[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_classes, H, W] of images [B, 3, H, W] in [-1, 1]; H, W divisible by 2**depth."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for i in reversed(range(self.depth)):
            x = self.merge[i](torch.cat([self.up[i](x), skips.pop()], dim=1))
        return self.head(x)


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@dataclass
class TrainResult:
    """Per-step training losses and the wall-clock seconds the training took."""

    losses: list[float]
    seconds: float


def train_segmenter(model: UNet, images: np.ndarray, masks: np.ndarray, *, epochs: int, batch_size: int, lr: float,
                    seed: int, device: str = "cpu", flip: bool = True, class_weighting: str = "none",
                    progress: bool = True) -> TrainResult:
    """Train `model` with cross-entropy and Adam on image/mask pairs; batches and flips drawn from `seed`.
    `class_weighting="sqrt_inverse"` weights class c by 1/sqrt(its pixel frequency) (normalised to mean 1), so that
    small parts (eyes, brows) are learned at low resolution."""
    start = time.perf_counter()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(images)
    steps_per_epoch = max(1, n // batch_size)
    weight = None
    if class_weighting == "sqrt_inverse":
        freq = np.bincount(np.asarray(masks).ravel(), minlength=model.n_classes).astype(np.float64)
        w = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1.0) / freq.sum()), 0.0)
        weight = torch.tensor(w / w[freq > 0].mean(), dtype=torch.float32, device=device)
    elif class_weighting != "none":
        raise ValueError(f"class_weighting must be 'none' or 'sqrt_inverse', got {class_weighting!r}")
    losses: list[float] = []
    bar = tqdm(total=epochs * steps_per_epoch, desc="segmenter", unit="step", disable=not progress)
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size].numpy()
            x = to_input(images[idx])
            y = torch.from_numpy(np.asarray(masks[idx], dtype=np.int64))
            if flip:
                flips = torch.rand(len(idx), generator=gen) < 0.5
                x[flips] = x[flips].flip(-1)
                y[flips] = y[flips].flip(-1)
            loss = F.cross_entropy(model(x.to(device)), y.to(device), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return TrainResult(losses, time.perf_counter() - start)


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, *, batch_size: int = 128, device: str = "cpu",
            size: int | None = None) -> np.ndarray:
    """Class masks [N, H, W] (int64) of uint8 images; logits resized bilinearly to `size` first if given."""
    model.to(device).eval()
    out = []
    for start in range(0, len(images), batch_size):
        logits = model(to_input(images[start:start + batch_size]).to(device))
        if size is not None and logits.shape[-1] != size:
            logits = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False)
        out.append(logits.argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[1:3], dtype=np.int64)


def save_segmenter(path: str | os.PathLike, model: UNet, info: dict[str, Any]) -> None:
    """Weights to `path` (safetensors) and architecture + `info` to its .json sidecar, both atomically."""
    path = Path(path)
    save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    sidecar = {"arch": "unet", "kwargs": {"n_classes": model.n_classes, "width": model.width, "depth": model.depth},
               **info}
    atomic.write_json(path.with_suffix(".json"), sidecar)


def load_segmenter(path: str | os.PathLike) -> tuple[UNet, dict[str, Any]]:
    """The segmenter saved by `save_segmenter`, in eval mode, and its sidecar."""
    path = Path(path)
    sidecar_path = path.with_suffix(".json")
    for file in (path, sidecar_path):
        if not file.is_file():
            raise CheckpointError(f"{file}: segmenter file not found (run its training stage first)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        model = UNet(**sidecar["kwargs"])
        model.load_state_dict(load_file(str(path)))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{sidecar_path}: malformed segmenter sidecar ({exc})") from None
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot load segmenter weights ({str(exc).splitlines()[0]})") from None
    return model.eval(), sidecar
