import numpy as np
import pytest

from klish.features.pixels import pixel_features


def test_colour_and_position_features():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 4, 6, 3), dtype=np.uint8)
    colour = pixel_features(images)
    assert colour.shape == (2, 4, 6, 3) and colour.dtype == np.float32
    np.testing.assert_allclose(colour * 255, images)
    both = pixel_features(images, position=True)
    assert both.shape == (2, 4, 6, 5)
    np.testing.assert_allclose(both[..., :3], colour)
    # pixel centres in [0, 1]: row of pixel (i, j) is (i + 0.5) / H, column (j + 0.5) / W, the same in every image
    assert both[1, 3, 5, 3] == pytest.approx(3.5 / 4) and both[0, 0, 0, 4] == pytest.approx(0.5 / 6)
    np.testing.assert_array_equal(both[0, ..., 3:], both[1, ..., 3:])


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        pixel_features(np.zeros((2, 4, 4), np.uint8))
