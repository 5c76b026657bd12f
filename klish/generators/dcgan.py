"""DCGAN generator and discriminator (Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016), with every intermediate feature map named.

`upsample="transposed"` is the paper's generator (transposed 4x4 convolutions, BN, ReLU). `upsample="nearest"`
replaces each transposed convolution by nearest upsampling and two 3x3 conv-BN-ReLU layers, which gives a feature map
at every resolution including the output one (as StyleGAN2 has) and avoids checkerboard artefacts.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from klish.errors import ConfigError

UPSAMPLE_MODES = ("transposed", "nearest")


def _check_resolution(resolution: int) -> int:
    if resolution < 8 or resolution & (resolution - 1):
        raise ConfigError(f"resolution must be a power of two >= 8, got {resolution}")
    return int(math.log2(resolution))


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BN scale N(1, 0.02), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class _Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


class DCGANGenerator(nn.Module):
    """Maps z [N, z_dim] to images [N, 3, R, R] in [-1, 1]; `feature_layers` names each intermediate map.

    Channels at resolution r are `min(width * R / r, max_channels)`, so the 4x4 stage is the widest.
    """

    def __init__(self, z_dim: int = 64, width: int = 32, resolution: int = 32, upsample: str = "transposed",
                 max_channels: int = 512, out_channels: int = 3) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
        levels = _check_resolution(resolution)
        self.z_dim, self.resolution, self.upsample = z_dim, resolution, upsample

        def ch(r: int) -> int:
            return min(width * resolution // r, max_channels)

        stages: OrderedDict[str, nn.Module] = OrderedDict()
        self._features: OrderedDict[str, str] = OrderedDict()
        if upsample == "transposed":
            stages["b4"] = nn.Sequential(_Reshape(z_dim, 1, 1), nn.ConvTranspose2d(z_dim, ch(4), 4, 1, 0, bias=False),
                                         nn.BatchNorm2d(ch(4)), nn.ReLU())
            self._features["b4"] = "stages.b4.3"
            for level in range(3, levels):
                r = 2**level
                stages[f"b{r}"] = nn.Sequential(nn.ConvTranspose2d(ch(r // 2), ch(r), 4, 2, 1, bias=False),
                                                nn.BatchNorm2d(ch(r)), nn.ReLU())
                self._features[f"b{r}"] = f"stages.b{r}.2"
            self.to_rgb = nn.Sequential(nn.ConvTranspose2d(ch(resolution // 2), out_channels, 4, 2, 1), nn.Tanh())
        else:
            stages["b4"] = nn.Sequential(nn.Linear(z_dim, ch(4) * 16, bias=False), _Reshape(ch(4), 4, 4),
                                         nn.BatchNorm2d(ch(4)), nn.ReLU())
            self._features["b4"] = "stages.b4.3"
            for level in range(3, levels + 1):
                r = 2**level
                stages[f"b{r}"] = nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(ch(r // 2), ch(r), 3, 1, 1, bias=False), nn.BatchNorm2d(ch(r)), nn.ReLU(),
                    nn.Conv2d(ch(r), ch(r), 3, 1, 1, bias=False), nn.BatchNorm2d(ch(r)), nn.ReLU())
                self._features[f"b{r}.0"] = f"stages.b{r}.3"
                self._features[f"b{r}.1"] = f"stages.b{r}.6"
            self.to_rgb = nn.Sequential(nn.Conv2d(ch(resolution), out_channels, 1), nn.Tanh())
        self.stages = nn.Sequential(stages)
        init_dcgan_weights(self)

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """Feature name -> submodule path, in forward order (coarsest first)."""
        return OrderedDict(self._features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.stages(z))  # [N, 3, R, R]


class DCGANDiscriminator(nn.Module):
    """Maps images [N, 3, R, R] to real/fake logits [N]; strided 4x4 convs, BN (not on the first), LeakyReLU 0.2."""

    def __init__(self, width: int = 32, resolution: int = 32, max_channels: int = 512, in_channels: int = 3) -> None:
        super().__init__()
        levels = _check_resolution(resolution)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        self._features: OrderedDict[str, str] = OrderedDict()
        prev = in_channels
        for level in range(levels - 1, 1, -1):
            r = 2**level
            out = min(width * resolution // (2 * r), max_channels)
            layers: list[nn.Module] = [nn.Conv2d(prev, out, 4, 2, 1, bias=level == levels - 1)]
            if level != levels - 1:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            stages[f"d{r}"] = nn.Sequential(*layers)
            self._features[f"d{r}"] = f"stages.d{r}.{len(layers) - 1}"
            prev = out
        self.stages = nn.Sequential(stages)
        self.head = nn.Conv2d(prev, 1, 4, 1, 0)
        init_dcgan_weights(self)

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """Feature name -> submodule path, in forward order (finest first)."""
        return OrderedDict(self._features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(x)).flatten()  # [N]
