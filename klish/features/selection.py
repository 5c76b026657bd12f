"""Auto layer selection of the KLiSH reference (Xu, Zhang, Hu, TPAMI 2023; spec section 1.4): the last feature map
at each resolution plus the final map, dropping the coarsest until at most `max_channels` channels remain."""

from __future__ import annotations

from collections.abc import Sequence

from klish.errors import ConfigError


def auto_layer_selection(shapes: Sequence[tuple[str, int, int]], max_channels: int = 1000) -> list[str]:
    """Names of the selected layers, given (name, channels, height) of every feature map in forward order."""
    if not shapes:
        raise ConfigError("the generator exposes no feature layers")
    heights = [h for _, _, h in shapes]
    chosen = [i for i in range(len(shapes) - 1) if heights[i] < heights[i + 1]]
    if not chosen or heights[-1] > heights[chosen[-1]]:
        chosen.append(len(shapes) - 1)
    while len(chosen) > 1 and sum(shapes[i][1] for i in chosen) > max_channels:
        chosen.pop(0)
    return [shapes[i][0] for i in chosen]


def resolve_layers(requested: str | Sequence[str], shapes: Sequence[tuple[str, int, int]],
                   max_channels: int = 1000) -> list[str]:
    """`"auto"` -> auto selection; `"all"` -> every layer; a list -> those names (each must exist), in forward order."""
    names = [n for n, _, _ in shapes]
    if requested == "auto":
        return auto_layer_selection(shapes, max_channels)
    if requested == "all":
        return names
    if isinstance(requested, str):
        raise ConfigError(f"layers must be 'auto', 'all' or a list of layer names, got {requested!r}")
    unknown = [n for n in requested if n not in names]
    if unknown:
        raise ConfigError(f"unknown feature layer(s) {', '.join(unknown)} (valid: {', '.join(names)})")
    return [n for n in names if n in set(requested)]
