import pytest

from klish.errors import ConfigError
from klish.features.selection import auto_layer_selection, resolve_layers


def stylegan2_shapes(resolution):
    """feats of the reference StyleGAN2 port: const 4x4, then two convs per resolution (spec 1.3)."""
    shapes = [("const", 512, 4), ("layer0", 512, 4)]
    r = 8
    while r <= resolution:
        c = min(32768 // r, 512)
        shapes += [(f"conv{r}a", c, r), (f"conv{r}b", c, r)]
        r *= 2
    return [(f"{i}", c, h) for i, (_, c, h) in enumerate(shapes)]


@pytest.mark.parametrize("resolution, expected, channels", [
    (1024, ["9", "11", "13", "15", "17"], 992),   # stylegan2_ffhq (spec 1.5)
    (512, ["9", "11", "13", "15"], 960),          # stylegan2_car
    (256, ["9", "11", "13"], 896),                # stylegan2_church / bedroom
])
def test_auto_selection_matches_reference_table(resolution, expected, channels):
    shapes = stylegan2_shapes(resolution)
    chosen = auto_layer_selection(shapes)
    assert chosen == expected
    assert sum(c for n, c, _ in shapes if n in chosen) == channels


def test_final_map_is_appended_when_finer():
    # a generator whose last map is the only one at the top resolution
    shapes = [("a", 64, 4), ("b", 32, 8), ("c", 16, 16)]
    assert auto_layer_selection(shapes) == ["a", "b", "c"]
    assert auto_layer_selection(shapes, max_channels=50) == ["b", "c"]


def test_resolve_layers():
    shapes = [("a", 64, 4), ("b", 32, 8), ("c", 16, 16)]
    assert resolve_layers("all", shapes) == ["a", "b", "c"]
    assert resolve_layers(["c", "a"], shapes) == ["a", "c"]  # forward order, coarsest first
    with pytest.raises(ConfigError, match="unknown feature layer"):
        resolve_layers(["z"], shapes)
