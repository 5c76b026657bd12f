"""StyleGAN2 (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020), config-F style, in
plain torch: a mapping network (pixel norm, equalised-lr FC layers with a learning-rate multiplier), W-space
truncation, modulated 3x3 convolutions with weight demodulation, per-pixel noise, and the "skip" generator whose
toRGB outputs are upsampled with the [1, 3, 3, 1] FIR filter and summed. Every synthesis-layer output is a named
feature map (spec 1.3): `const` (the 4x4 learned input), `b4`, then `b{r}.0`, `b{r}.1` per resolution r.

Noise: random in training mode; in eval mode `noise_mode` picks "const" (the stored per-layer noise images, so a
sample does not depend on its batch), "random" or "none". Truncation: `truncation_psi` pulls w toward `w_avg`, the
running mean of w tracked in training (or the checkpoint's mean latent after conversion).

The discriminator is the residual one with minibatch standard deviation; it downsamples by 2x2 average pooling
instead of the FIR filter (it only matters for training here; pretrained checkpoints ship generators).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from klish.errors import ConfigError
from klish.generators.dcgan import _check_resolution

SQRT2 = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def fir_kernel(taps: Sequence[float] = FIR_TAPS) -> torch.Tensor:
    """The separable 2-D low-pass filter [k, k] of `taps` (outer product), normalised to sum 1."""
    t = torch.tensor(taps, dtype=torch.float32)
    k = t[:, None] * t[None, :]
    return k / k.sum()


def _depthwise_fir(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Filter each channel of x [B, C, H, W] with the 2-D kernel (a true convolution) after padding (before, after)."""
    channels = x.shape[1]
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = kernel.flip(0, 1)[None, None].expand(channels, 1, *kernel.shape).to(x.dtype)
    return F.conv2d(x, weight, groups=channels)


def upsample_fir(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x upsampling with the FIR filter (gain 4 so that a constant stays constant): [B, C, H, W] -> [B, C, 2H, 2W]."""
    channels = x.shape[1]
    weight = (kernel * 4).flip(0, 1)[None, None].expand(channels, 1, *kernel.shape).to(x.dtype)
    return F.conv_transpose2d(x, weight, stride=2, padding=1, groups=channels)


class EqualizedLinear(nn.Module):
    """A linear layer with runtime weight scaling 1/sqrt(fan_in) (equalised learning rate) and a learning-rate
    multiplier: parameters are stored divided by `lr_mul` and multiplied back in the forward pass."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale, self.lr_mul = lr_mul / math.sqrt(in_features), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """z [N, D] -> w [N, D]: pixel norm, then `n_layers` equalised FC layers with leaky ReLU 0.2 (gain sqrt 2)."""

    def __init__(self, z_dim: int, n_layers: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EqualizedLinear(z_dim, z_dim, lr_mul=lr_mul) for _ in range(n_layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * SQRT2
        return x


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled per sample by an affine map of w (bias initialised to 1), with
    optional demodulation (unit-norm output filters) and optional 2x upsampling (transposed conv, then FIR)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True,
                 up: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate, self.up = demodulate, up
        self.register_buffer("fir", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # Scaling the input channels by the styles and the output channels by the demodulation coefficients equals
        # convolving each sample with its own modulated weights, with one shared-weight convolution for the batch.
        styles = self.affine(w)  # [B, in]
        weight = self.weight * self.scale  # [out, in, k, k]
        x = x * styles[:, :, None, None]
        if self.up:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # [B, out, 2H+1, 2W+1]
            out = _depthwise_fir(out, self.fir * 4, (1, 1))  # [B, out, 2H, 2W]
        else:
            out = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:  # 1 / |w_o * s| per sample and output channel
            coefficients = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)  # [B, out]
            out = out * coefficients[:, :, None, None]
        return out


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling), per-pixel noise times a learned strength, bias, leaky ReLU 0.2 with
    gain sqrt 2. `noise_const` is this layer's fixed noise image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + self.noise_strength * torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            x = x + self.noise_strength * self.noise_const
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * SQRT2


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus a bias."""

    def __init__(self, in_channels: int, w_dim: int, out_channels: int = 3) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class ConstantInput(nn.Module):
    """The learned 4x4 input, repeated over the batch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.randn(1, channels, 4, 4))

    def forward(self, batch: int) -> torch.Tensor:
        return self.const.expand(batch, -1, -1, -1)


class SynthesisBlock(nn.Module):
    """One resolution: `conv0` (upsampling; absent at 4x4), `conv1`, and `torgb` added onto the upsampled skip image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, out_rgb: int = 3) -> None:
        super().__init__()
        self.conv0 = (SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True) if resolution > 4
                      else None)
        self.conv1 = SynthesisLayer(out_channels if resolution > 4 else in_channels, out_channels, w_dim, resolution)
        self.torgb = ToRGB(out_channels, w_dim, out_rgb)
        self.register_buffer("fir", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, w: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conv0 is not None:
            x = self.conv0(x, w, noise_mode)
        x = self.conv1(x, w, noise_mode)
        rgb = self.torgb(x, w)
        return x, rgb if skip is None else rgb + upsample_fir(skip, self.fir)


class StyleGAN2Generator(nn.Module):
    """Maps z [N, z_dim] to images [N, 3, R, R] (about [-1, 1]; no tanh, as StyleGAN2).

    Channels at resolution r are `channels[log2(r) - 2]` when given, else `min(width * R / r, max_channels)`.
    w has the dimension of z. `truncation_psi` (default 1: none) and `noise_mode` are run-time settings.
    """

    def __init__(self, z_dim: int = 64, width: int = 32, resolution: int = 32, n_mlp: int = 4,
                 max_channels: int = 256, channels: Sequence[int] | None = None, lr_mlp: float = 0.01,
                 w_avg_beta: float = 0.995, out_channels: int = 3) -> None:
        super().__init__()
        levels = _check_resolution(resolution)
        resolutions = [2**i for i in range(2, levels + 1)]
        if channels is None:
            channels = [min(width * resolution // r, max_channels) for r in resolutions]
        if len(channels) != len(resolutions) or any(int(c) < 1 for c in channels):
            raise ConfigError(f"channels must list {len(resolutions)} positive counts (4..{resolution}), "
                              f"got {list(channels)}")
        self.z_dim, self.resolution, self.w_avg_beta = z_dim, resolution, w_avg_beta
        self.channels = [int(c) for c in channels]
        self.truncation_psi = 1.0
        self.noise_mode = "const"
        self.mapping = MappingNetwork(z_dim, n_mlp, lr_mlp)
        self.input = ConstantInput(self.channels[0])
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        self._features: OrderedDict[str, str] = OrderedDict(const="input")
        previous = self.channels[0]
        for r, c in zip(resolutions, self.channels):
            blocks[f"b{r}"] = SynthesisBlock(previous, c, z_dim, r, out_channels)
            if r == 4:
                self._features["b4"] = "blocks.b4.conv1"
            else:
                self._features[f"b{r}.0"] = f"blocks.b{r}.conv0"
                self._features[f"b{r}.1"] = f"blocks.b{r}.conv1"
            previous = c
        self.blocks = nn.ModuleDict(blocks)
        self.register_buffer("w_avg", torch.zeros(z_dim))

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """Feature name -> submodule path, in forward order (coarsest first)."""
        return OrderedDict(self._features)

    def mean_w(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """The mean of w over `n` latents drawn with `seed` (the truncation centre of converted checkpoints)."""
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self.mapping(z.to(self.w_avg.device)).mean(dim=0)

    def synthesis(self, w: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images [N, 3, R, R] from w [N, z_dim] (the same w for every layer)."""
        mode = "random" if self.training else (noise_mode or self.noise_mode)
        if mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {mode!r}")
        x, skip = self.input(w.shape[0]), None
        for block in self.blocks.values():
            x, skip = block(x, skip, w, mode)
        return skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.truncation_psi != 1.0:
            w = self.w_avg.lerp(w, self.truncation_psi)
        return self.synthesis(w)


class EqualizedConv2d(nn.Module):
    """A convolution with runtime weight scaling 1/sqrt(fan_in) and a bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


class _LeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * SQRT2


class DiscriminatorBlock(nn.Module):
    """Residual block: a 3x3 conv, 2x downsampling, a 3x3 conv (at the lower resolution, as a strided conv would),
    plus a downsampled 1x1 skip; the sum is scaled by 1/sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(EqualizedConv2d(in_channels, in_channels, 3), _LeakyReLU())
        self.conv1 = nn.Sequential(EqualizedConv2d(in_channels, out_channels, 3), _LeakyReLU())
        self.skip = EqualizedConv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.conv1(F.avg_pool2d(self.conv0(x), 2))
        return (main + F.avg_pool2d(self.skip(x), 2)) / SQRT2


class StyleGAN2Discriminator(nn.Module):
    """Maps images [N, 3, R, R] to logits [N]: fromRGB, residual blocks down to 4x4 (channels at resolution r:
    `min(width * R / (2 r), max_channels)`), minibatch standard deviation
    (groups of up to `mbstd_group`), a 3x3 conv and two FC layers. Block outputs are the named feature maps."""

    def __init__(self, width: int = 32, resolution: int = 32, max_channels: int = 256, mbstd_group: int = 4,
                 in_channels: int = 3) -> None:
        super().__init__()
        levels = _check_resolution(resolution)

        def ch(r: int) -> int:  # half the generator's channels at each resolution, as the DCGAN discriminator has
            return max(1, min(width * resolution // (2 * r), max_channels))

        self.mbstd_group = mbstd_group
        self.from_rgb = nn.Sequential(EqualizedConv2d(in_channels, ch(resolution), 1), _LeakyReLU())
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        self._features: OrderedDict[str, str] = OrderedDict()
        for level in range(levels, 2, -1):
            r = 2**level
            stages[f"d{r // 2}"] = DiscriminatorBlock(ch(r), ch(r // 2))
            self._features[f"d{r // 2}"] = f"stages.d{r // 2}"
        self.stages = nn.Sequential(stages)
        self.conv = nn.Sequential(EqualizedConv2d(ch(4) + 1, ch(4), 3), _LeakyReLU())
        self.fc = EqualizedLinear(ch(4) * 16, ch(4))
        self.out = EqualizedLinear(ch(4), 1)

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """Feature name -> submodule path, in forward order (finest first)."""
        return OrderedDict(self._features)

    def minibatch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        """Append one channel: the mean over features of the standard deviation within each group of samples."""
        batch, channels, height, width = x.shape
        group = min(self.mbstd_group, batch)
        if batch % group:
            group = 1
        y = x.view(group, -1, channels, height, width)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # [B / group]
        y = y.view(1, -1, 1, 1, 1).expand(group, -1, 1, height, width).reshape(batch, 1, height, width)
        return torch.cat([x, y], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.from_rgb(x))
        x = self.conv(self.minibatch_stddev(x))
        return self.out(F.leaky_relu(self.fc(x.flatten(1)), 0.2) * SQRT2).flatten()
