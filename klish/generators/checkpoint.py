"""Checkpoints: safetensors weights plus a JSON sidecar that describes them (architecture, constructor arguments,
resolution, step, seed, source, sha256). Loading never unpickles unless explicitly allowed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from klish import atomic
from klish.errors import CheckpointError, ConfigError
from klish.generators.registry import build_discriminator, build_encoder, build_generator
from klish.tensor_files import save_tensors

FORMAT = "klish-checkpoint/1"
ROLES = ("generator", "discriminator", "encoder")


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar next to a weights file: `x.safetensors` -> `x.json`."""
    return Path(path).with_suffix(".json")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, arch: str, role: str, kwargs: dict[str, Any],
                    **meta: Any) -> dict[str, Any]:
    """Write `model`'s state dict to `path` (safetensors) and its sidecar, both atomically; returns the sidecar."""
    if role not in ROLES:
        raise ConfigError(f"checkpoint role must be one of {', '.join(ROLES)}, got {role!r}")
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_tensors(path, state, metadata={"format": FORMAT, "arch": arch, "role": role})
    sha = file_sha256(path)
    sidecar = {"format": FORMAT, "arch": arch, "role": role, "kwargs": kwargs, "sha256": sha,
               "n_parameters": sum(p.numel() for p in model.parameters()), **meta}
    atomic.write_json(sidecar_path(path), sidecar)
    return sidecar


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of the weights file `path`, validated; a one-line error names the file when anything is off."""
    side = sidecar_path(path)
    if not side.is_file():
        raise CheckpointError(f"{side}: checkpoint sidecar not found (expected next to {Path(path).name})")
    try:
        sidecar = json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{side}: sidecar is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    missing = [k for k in ("format", "arch", "role", "kwargs", "sha256") if k not in sidecar]
    if missing:
        raise CheckpointError(f"{side}: sidecar lacks {', '.join(missing)}")
    if sidecar["format"] != FORMAT:
        raise CheckpointError(f"{side}: unsupported checkpoint format {sidecar['format']!r} (expected {FORMAT!r})")
    return sidecar


def load_state(path: str | os.PathLike, *, expected_sha256: str | None = None,
               allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: safetensors, or a torch pickle read with `weights_only=True` (a full unpickle only
    with `allow_pickle=True`, which can execute code from the file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise CheckpointError(f"{path}: sha256 mismatch, the file is corrupt or truncated "
                                  f"(expected {expected_sha256[:12]}..., got {actual[:12]}...)")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as exc:  # torch raises many types for bad pickles; report them as one line
        hint = "" if allow_pickle else " (objects beyond tensors need allow_pickle=True: only for trusted files)"
        raise CheckpointError(f"{path}: cannot load torch checkpoint: {str(exc).splitlines()[0]}{hint}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(state).__name__}")
    return state


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model described by the sidecar of `path` and load its verified weights; returns (model, sidecar).

    The model is returned in eval mode.
    """
    sidecar = read_sidecar(path)
    state = load_state(path, expected_sha256=sidecar["sha256"])
    builders = {"generator": build_generator, "discriminator": build_discriminator, "encoder": build_encoder}
    if sidecar["role"] not in builders:
        raise CheckpointError(f"{sidecar_path(path)}: unknown role {sidecar['role']!r} "
                              f"(expected one of {', '.join(ROLES)})")
    build = builders[sidecar["role"]]
    model = build(sidecar["arch"], **sidecar["kwargs"])
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or reshaped:
        example = (missing + unexpected + reshaped)[0]
        raise CheckpointError(
            f"{path}: weights do not match {sidecar['arch']} {sidecar['kwargs']} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} wrongly shaped tensors, e.g. {example})")
    model.load_state_dict(state)
    return model.eval(), sidecar
