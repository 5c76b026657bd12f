"""Foreign checkpoint layouts -> the zoo's architectures, by explicit key mapping (never by loading foreign code).

`dcgan_tutorial`: the generator of the PyTorch DCGAN tutorial (`main` = ConvTranspose-BN-ReLU blocks from a
z x 1 x 1 input, then ConvTranspose + Tanh, no biases), the layout of most small "DCGAN faces" checkpoints such as
gan-face-generate's `netG_state_dict`. It maps onto `dcgan` with `upsample="transposed"` (the output convolution's
bias set to zero), so the tutorial's ReLU outputs become the named feature maps b4, b8, ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from klish.errors import CheckpointError

LAYOUTS = ("dcgan_tutorial",)


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


def convert(state: dict[str, torch.Tensor], layout: str) -> Converted:
    """Map a foreign generator state dict in `layout` onto a zoo architecture; a mismatch is a CheckpointError."""
    if layout not in LAYOUTS:
        raise CheckpointError(f"unknown checkpoint layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("the state dict holds objects that are not tensors")
    return _dcgan_tutorial(state)
