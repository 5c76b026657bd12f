"""Unsupervised fine-grained segmentation (UFS, spec sections 4.3-4.4): a segmentation network trained on synthetic
GAN image+mask pairs (masks are cluster ids), tested on real images.

The network predicts K clusters; real classes come from a many-to-one cluster -> class mapping. The main number
uses the mapping found on *generated* images against the parser's pseudo ground truth (the paper's protocol: no
real label is used); beside it, an oracle mapping found on the real test images themselves bounds what a better
mapping could add. Scores are `klish.metrics.segmentation.segmentation_scores`: dataset-level over all classes
(`miou_real`) and over the foreground in the paper's convention (`miou_real_fg`: ground-truth background pixels
ignored, background IoU dropped), and the paper's own per-image protocol (`miou_real_fg_per_image`).

Networks: the small UNet of `benchmark.tasks.segmenter`, or `DeepLabV3Plus`, a plain-torch DeepLabV3+-style net
(residual encoder at output stride 4, atrous spatial pyramid pooling, a decoder with a low-level shortcut), scaled
down for 32-128 px images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from benchmark.tasks.segmenter import UNet
from klish import atomic
from klish.errors import CheckpointError
from klish.metrics import greedy_mapping, per_image_contingency
from klish.tensor_files import save_tensors

ARCHITECTURES = ("unet", "deeplabv3plus")


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, stride=stride, dilation=dilation),
                                  nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation, bias=False),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if cin == cout and stride == 1 else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+-style segmenter: residual encoder (stride 2 low-level features, stride 4 high-level, the last
    stage dilated instead of strided), ASPP with a 1x1 branch, atrous branches at `rates` and image pooling, and a
    decoder that fuses the upsampled ASPP output with projected low-level features."""

    def __init__(self, n_classes: int, width: int = 16, rates: tuple[int, ...] = (2, 4, 6),
                 in_channels: int = 3) -> None:
        super().__init__()
        self.n_classes, self.width, self.rates = n_classes, width, tuple(rates)
        w = width
        self.stem = _conv_bn(in_channels, w)
        self.low = _Residual(w, 2 * w, stride=2)  # stride 2: the decoder's shortcut
        self.high = nn.Sequential(_Residual(2 * w, 4 * w, stride=2), _Residual(4 * w, 4 * w, dilation=2))  # stride 4
        self.aspp = nn.ModuleList([_conv_bn(4 * w, 4 * w, kernel=1)] +
                                  [_conv_bn(4 * w, 4 * w, dilation=r) for r in self.rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4 * w, 4 * w, 1, bias=False), nn.ReLU())
        self.project = nn.Sequential(_conv_bn(4 * w * (len(self.rates) + 2), 4 * w, kernel=1), nn.Dropout(0.1))
        self.shortcut = _conv_bn(2 * w, w, kernel=1)
        self.decoder = nn.Sequential(_conv_bn(5 * w, 4 * w), _conv_bn(4 * w, 4 * w))
        self.head = nn.Conv2d(4 * w, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_classes, H, W] of images [B, 3, H, W] in [-1, 1]; H, W divisible by 4."""
        size = x.shape[-2:]
        low = self.low(self.stem(x))
        high = self.high(low)
        pooled = self.pool(high).expand(-1, -1, *high.shape[-2:])
        fused = self.project(torch.cat([branch(high) for branch in self.aspp] + [pooled], dim=1))
        fused = F.interpolate(fused, size=low.shape[-2:], mode="bilinear", align_corners=False)
        out = self.head(self.decoder(torch.cat([fused, self.shortcut(low)], dim=1)))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


def build_network(arch: str, n_classes: int, width: int, depth: int = 3) -> nn.Module:
    """The UFS network `arch` ("unet" with `depth` halvings, or "deeplabv3plus") with `n_classes` outputs."""
    if arch == "unet":
        return UNet(n_classes, width=width, depth=depth)
    if arch == "deeplabv3plus":
        return DeepLabV3Plus(n_classes, width=width)
    raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")


def save_network(path: str | os.PathLike, model: nn.Module, arch: str, info: dict[str, Any]) -> None:
    """Weights to `path` (safetensors) and the architecture + `info` to its .json sidecar, both atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    kwargs = {"n_classes": model.n_classes, "width": model.width, "depth": getattr(model, "depth", 3)}
    atomic.write_json(path.with_suffix(".json"), {"arch": arch, "kwargs": kwargs, **info})


def load_network(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """The network saved by `save_network`, in eval mode, and its sidecar."""
    path = Path(path)
    sidecar_path = path.with_suffix(".json")
    for file in (path, sidecar_path):
        if not file.is_file():
            raise CheckpointError(f"{file}: UFS network file not found (run the ufs stage first)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        model = build_network(sidecar["arch"], **sidecar["kwargs"])
        model.load_state_dict(load_file(str(path)))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{sidecar_path}: malformed UFS network sidecar ({exc})") from None
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot load UFS network weights ({str(exc).splitlines()[0]})") from None
    return model.eval(), sidecar


def cluster_mapping(clusters: np.ndarray, classes: np.ndarray, n_clusters: int, n_classes: int) -> np.ndarray:
    """The greedy many-to-one cluster -> class mapping [K] (spec 4.2) between cluster masks and class masks of the
    same images [N, H, W]."""
    return greedy_mapping(per_image_contingency(classes, clusters, n_classes, n_clusters))
