import pytest
import torch

from klish.errors import ConfigError
from klish.features.hooks import feature_shapes
from klish.generators import build_discriminator, build_generator


@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_shapes_and_named_features(upsample, resolution):
    g = build_generator("dcgan", z_dim=8, width=4, resolution=resolution, upsample=upsample).eval()
    out = g(torch.randn(3, 8))
    assert out.shape == (3, 3, resolution, resolution)
    assert out.abs().max() <= 1.0
    shapes = feature_shapes(g, 8)
    heights = [h for _, _, h in shapes]
    assert heights == sorted(heights) and heights[0] == 4
    # nearest mode has a map at the output resolution (two per resolution); transposed stops one level below
    assert heights[-1] == (resolution if upsample == "nearest" else resolution // 2)
    for _name, channels, height in shapes:
        assert channels == min(4 * resolution // height, 512)


def test_discriminator_logits_and_features():
    d = build_discriminator("dcgan", width=4, resolution=32).eval()
    assert d(torch.randn(5, 3, 32, 32)).shape == (5,)
    assert list(d.feature_layers) == ["d16", "d8", "d4"]


def test_registry_errors_are_clear():
    with pytest.raises(ConfigError, match="unknown architecture 'biggan': expected one of dcgan"):
        build_generator("biggan")
    with pytest.raises(ConfigError, match="unknown DCGANGenerator argument"):
        build_generator("dcgan", depth=3)
    with pytest.raises(ConfigError, match="upsample must be one of"):
        build_generator("dcgan", upsample="bicubic")
    with pytest.raises(ConfigError, match="power of two"):
        build_generator("dcgan", resolution=48)
