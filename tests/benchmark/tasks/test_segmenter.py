import numpy as np
import pytest
import torch

from benchmark.tasks.segmenter import UNet, load_segmenter, predict, save_segmenter, train_segmenter
from klish.errors import CheckpointError
from klish.metrics.segmentation import segmentation_scores


def _toy(n=64, seed=0):
    """Images whose class is readable from colour: a bright square (1) and a red disc (2) on grey."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 16, 16, 3), 100, np.uint8)
    masks = np.zeros((n, 16, 16), np.int64)
    yy, xx = np.mgrid[:16, :16]
    for i in range(n):
        r, c = rng.integers(2, 8, size=2)
        masks[i, r:r + 5, c:c + 5] = 1
        disc = (yy - rng.integers(4, 12)) ** 2 + (xx - rng.integers(4, 12)) ** 2 < 9
        masks[i][disc] = 2
    images[masks == 1] = 230
    images[masks == 2] = (220, 30, 30)
    return images, masks


def test_unet_shapes():
    model = UNet(n_classes=5, width=4, depth=2)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 5, 16, 16)


def test_training_learns_a_separable_toy_task():
    images, masks = _toy()
    torch.manual_seed(0)
    model = UNet(3, width=8, depth=2)
    result = train_segmenter(model, images, masks, epochs=6, batch_size=16, lr=0.01, seed=0,
                             class_weighting="sqrt_inverse", progress=False)
    assert np.mean(result.losses[-4:]) < 0.5 * np.mean(result.losses[:4])
    test_images, test_masks = _toy(16, seed=1)
    scores = segmentation_scores(test_masks, predict(model, test_images), ["bg", "square", "disc"], "miou")
    assert scores["miou"] > 0.8 and scores["miou_pixel_acc"] > 0.9


def test_save_and_load_round_trip(tmp_path):
    model = UNet(3, width=4, depth=2).eval()
    save_segmenter(tmp_path / "p.safetensors", model, {"domain": "toy"})
    loaded, info = load_segmenter(tmp_path / "p.safetensors")
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(loaded(x), model(x)) and info["domain"] == "toy"
    (tmp_path / "p.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="p.safetensors: cannot load segmenter weights"):
        load_segmenter(tmp_path / "p.safetensors")
