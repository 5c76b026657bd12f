"""Foreign checkpoint layouts -> the zoo's architectures, by explicit key mapping (never by loading foreign code).

`dcgan_tutorial`: the generator of the PyTorch DCGAN tutorial (`main` = ConvTranspose-BN-ReLU blocks from a
z x 1 x 1 input, then ConvTranspose + Tanh, no biases), the layout of most small "DCGAN faces" checkpoints such as
gan-face-generate's `netG_state_dict`. It maps onto `dcgan` with `upsample="transposed"` (the output convolution's
bias set to zero), so the tutorial's ReLU outputs become the named feature maps b4, b8, ...

`rosinality_stylegan2`: the `g_ema` generator of the widely used PyTorch StyleGAN2 re-implementation
(github.com/rosinality/stylegan2-pytorch), the layout most converted FFHQ, car, cat and church weights ship in:
`style.N` mapping layers, `input.input`, `conv1` + `to_rgb1` at 4x4, `convs.2j` / `convs.2j+1` / `to_rgbs.j` per
resolution, `noises.noise_i`, and the FIR kernels as buffers. It maps onto `stylegan2`; the checkpoint's sibling
`latent_avg`, when present, becomes the truncation centre, otherwise the mean w of 4096 seeded latents does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from klish.errors import CheckpointError

LAYOUTS = ("dcgan_tutorial", "rosinality_stylegan2")
ROSINALITY_LR_MLP = 0.01  # the mapping network's learning-rate multiplier, fixed in that code's checkpoints


@dataclass(frozen=True)
class Converted:
    """A state dict in a zoo architecture's layout, with the architecture and constructor arguments to build it."""

    arch: str
    kwargs: dict[str, Any]
    state: dict[str, torch.Tensor]


def _dcgan_tutorial(state: dict[str, torch.Tensor]) -> Converted:
    conv_ids = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.weight", k))
                      and state[k].ndim == 4)
    if len(conv_ids) < 3 or conv_ids != list(range(0, 3 * len(conv_ids), 3)):
        raise CheckpointError(f"not the DCGAN tutorial layout: expected transposed convolutions at main.0, main.3, "
                              f"..., found {', '.join(f'main.{i}' for i in conv_ids) or 'none'}")
    first, last = state["main.0.weight"], state[f"main.{conv_ids[-1]}.weight"]
    channels = [int(state[f"main.{c}.weight"].shape[1]) for c in conv_ids[:-1]]  # block outputs at 4, 8, ..., R/2
    if any(a != 2 * b for a, b in zip(channels, channels[1:])) or channels[-1] % 2:
        raise CheckpointError(f"DCGAN tutorial layout with block channels {channels}: expected halving per "
                              f"resolution, ending even")
    z_dim, resolution, ngf = int(first.shape[0]), 2 ** (len(conv_ids) + 1), channels[-1]
    width = ngf // 2  # the zoo's width: channels at resolution r are width * R / r
    out: dict[str, torch.Tensor] = {}
    for n, conv in enumerate(conv_ids[:-1]):
        r = 4 * 2**n
        prefix = "stages.b4.1" if r == 4 else f"stages.b{r}.0"
        bn_prefix = "stages.b4.2" if r == 4 else f"stages.b{r}.1"
        out[f"{prefix}.weight"] = state[f"main.{conv}.weight"]
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            key = f"main.{conv + 1}.{name}"
            if key not in state:
                raise CheckpointError(f"DCGAN tutorial layout lacks {key} (the BatchNorm after main.{conv})")
            out[f"{bn_prefix}.{name}"] = state[key]
    out["to_rgb.0.weight"] = last
    out["to_rgb.0.bias"] = torch.zeros(last.shape[1], dtype=last.dtype)
    used = {f"main.{c}.weight" for c in conv_ids} | {f"main.{c + 1}.{n}" for c in conv_ids[:-1] for n in
                                                      ("weight", "bias", "running_mean", "running_var",
                                                       "num_batches_tracked")}
    extra = sorted(set(state) - used)
    if extra:
        raise CheckpointError(f"DCGAN tutorial layout has unexpected tensors, e.g. {extra[0]}")
    kwargs = {"z_dim": z_dim, "width": width, "resolution": resolution, "upsample": "transposed",
              "max_channels": channels[0], "out_channels": int(last.shape[1])}
    return Converted("dcgan", kwargs, out)


def _take(state: dict[str, torch.Tensor], key: str, used: set[str]) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"not the rosinality StyleGAN2 layout: {key} is missing")
    used.add(key)
    return state[key]


def _rosinality_stylegan2(state: dict[str, torch.Tensor], siblings: dict[str, Any]) -> Converted:
    from klish.generators.stylegan2 import StyleGAN2Generator, fir_kernel  # torch-heavy; only this layout needs it

    used: set[str] = set()
    n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
    n_blocks = sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
    if n_mlp < 1 or "input.input" not in state:
        raise CheckpointError("not the rosinality StyleGAN2 layout: expected style.1.weight ... and input.input "
                              "(is this the g_ema entry of the checkpoint?)")
    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        for name in ("weight", "bias"):
            out[f"mapping.layers.{i}.{name}"] = _take(state, f"style.{i + 1}.{name}", used)
    z_dim = int(out["mapping.layers.0.weight"].shape[1])
    out["input.const"] = _take(state, "input.input", used)
    upsampling_fir = fir_kernel() * 4

    def layer(src: str, dst: str, noise: int) -> None:
        out[f"{dst}.conv.weight"] = _take(state, f"{src}.conv.weight", used)[0]
        out[f"{dst}.conv.affine.weight"] = _take(state, f"{src}.conv.modulation.weight", used)
        out[f"{dst}.conv.affine.bias"] = _take(state, f"{src}.conv.modulation.bias", used)
        out[f"{dst}.noise_strength"] = _take(state, f"{src}.noise.weight", used).reshape(())
        out[f"{dst}.bias"] = _take(state, f"{src}.activate.bias", used)
        out[f"{dst}.noise_const"] = _take(state, f"noises.noise_{noise}", used)

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.conv.weight"] = _take(state, f"{src}.conv.weight", used)[0]
        out[f"{dst}.conv.affine.weight"] = _take(state, f"{src}.conv.modulation.weight", used)
        out[f"{dst}.conv.affine.bias"] = _take(state, f"{src}.conv.modulation.bias", used)
        out[f"{dst}.bias"] = _take(state, f"{src}.bias", used).reshape(-1)

    def fir(key: str) -> None:
        if not torch.allclose(_take(state, key, used).float(), upsampling_fir):
            raise CheckpointError(f"rosinality StyleGAN2 layout with a non-standard blur kernel at {key} (only the "
                                  f"[1, 3, 3, 1] filter is supported)")

    layer("conv1", "blocks.b4.conv1", 0)
    torgb("to_rgb1", "blocks.b4.torgb")
    channels = [int(out["input.const"].shape[1])]
    for j in range(n_blocks):
        r = 8 * 2**j
        layer(f"convs.{2 * j}", f"blocks.b{r}.conv0", 2 * j + 1)
        layer(f"convs.{2 * j + 1}", f"blocks.b{r}.conv1", 2 * j + 2)
        torgb(f"to_rgbs.{j}", f"blocks.b{r}.torgb")
        fir(f"convs.{2 * j}.conv.blur.kernel")
        fir(f"to_rgbs.{j}.upsample.kernel")
        channels.append(int(out[f"blocks.b{r}.conv0.conv.weight"].shape[0]))
    extra = sorted(set(state) - used)
    if extra:
        raise CheckpointError(f"rosinality StyleGAN2 layout has unexpected tensors, e.g. {extra[0]}")
    kwargs = {"z_dim": z_dim, "resolution": 4 * 2**n_blocks, "n_mlp": n_mlp, "channels": channels,
              "lr_mlp": ROSINALITY_LR_MLP, "out_channels": int(out["blocks.b4.torgb.bias"].shape[0])}
    latent_avg = siblings.get("latent_avg")
    if isinstance(latent_avg, torch.Tensor):
        if latent_avg.numel() != z_dim:
            raise CheckpointError(f"latent_avg has {latent_avg.numel()} values but w has {z_dim}")
        out["w_avg"] = latent_avg.reshape(-1).float()
    else:  # the mean w the re-implementation computes at run time (mean_latent(4096)), here with a fixed seed
        model = StyleGAN2Generator(**kwargs)
        model.mapping.load_state_dict({k.removeprefix("mapping."): v for k, v in out.items()
                                       if k.startswith("mapping.")})
        out["w_avg"] = model.mean_w()
    return Converted("stylegan2", kwargs, out)


def convert(state: dict[str, torch.Tensor], layout: str, siblings: dict[str, Any] | None = None) -> Converted:
    """Map a foreign generator state dict in `layout` onto a zoo architecture; a mismatch is a CheckpointError.

    `siblings` are the other entries of the checkpoint the state dict came from (e.g. rosinality's `latent_avg`)."""
    if layout not in LAYOUTS:
        raise CheckpointError(f"unknown checkpoint layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("the state dict holds objects that are not tensors")
    if layout == "rosinality_stylegan2":
        return _rosinality_stylegan2(state, siblings or {})
    return _dcgan_tutorial(state)
