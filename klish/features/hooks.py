"""Record named intermediate feature maps of a model with forward hooks (no change to the model's code)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from klish.errors import ConfigError


def feature_layers(model: nn.Module) -> dict[str, str]:
    """Feature name -> submodule path, from the model's `feature_layers` mapping."""
    layers = getattr(model, "feature_layers", None)
    if not layers:
        raise ConfigError(f"{type(model).__name__} does not name its feature layers (needs a `feature_layers` mapping)")
    return dict(layers)


class FeatureRecorder:
    """Context manager: while active, every forward of `model` stores the outputs of the named layers in `.maps`."""

    def __init__(self, model: nn.Module, names: Iterable[str]) -> None:
        mapping = feature_layers(model)
        modules = dict(model.named_modules())
        self.names = list(names)
        unknown = [n for n in self.names if n not in mapping]
        if unknown:
            raise ConfigError(f"unknown feature layer(s) {', '.join(unknown)} (valid: {', '.join(mapping)})")
        self._targets = {name: modules[mapping[name]] for name in self.names}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.maps: dict[str, torch.Tensor] = {}

    def __enter__(self) -> FeatureRecorder:
        for name, module in self._targets.items():
            self._handles.append(module.register_forward_hook(self._store(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _store(self, name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self.maps[name] = output
        return hook


@torch.no_grad()
def feature_shapes(generator: nn.Module, z_dim: int) -> list[tuple[str, int, int]]:
    """(name, channels, height) of every named feature map, from one dummy forward in eval mode."""
    names = list(feature_layers(generator))
    was_training = generator.training
    generator.eval()
    with FeatureRecorder(generator, names) as rec:
        generator(torch.zeros(1, z_dim, device=next(generator.parameters()).device))
    generator.train(was_training)
    return [(n, rec.maps[n].shape[1], rec.maps[n].shape[2]) for n in names]
