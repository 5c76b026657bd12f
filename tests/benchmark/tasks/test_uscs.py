import numpy as np
import pytest
import torch

from benchmark.tasks import uscs
from klish.errors import ConfigError


def _pairs(n=24, k=3, r=16, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, r, r), np.int64)
    masks[:, r // 2:] = 1
    masks[:, :, : r // 4] = 2
    palette = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]], np.uint8)
    images = np.clip(palette[masks].astype(int) + rng.integers(-10, 10, (n, r, r, 3)), 0, 255).astype(np.uint8)
    return images, masks


def test_shapes_and_the_mask_steers_the_image():
    torch.manual_seed(0)
    g = uscs.SPADEGenerator(n_classes=3, resolution=16, width=8, z_dim=8).eval()
    _, masks = _pairs(n=2)
    seg = uscs.one_hot(torch.from_numpy(masks), 3)
    z = torch.randn(2, 8)
    out = g(seg, z)
    assert out.shape == (2, 3, 16, 16) and out.abs().max() <= 1
    flipped = uscs.one_hot(torch.from_numpy(2 - masks), 3)
    assert not torch.allclose(out, g(flipped, z))  # another mask, another image
    d = uscs.MultiScaleDiscriminator(n_classes=3, width=8, n_scales=2)
    outputs = d(out, seg)
    assert len(outputs) == 2 and outputs[1][-1].shape[-1] < outputs[0][-1].shape[-1]


def test_bad_masks_and_images_are_clear_errors():
    with pytest.raises(ConfigError, match=r"mask ids must lie in 0..2"):
        uscs.one_hot(torch.tensor([[[0, 3]]]), 3)
    g, d = uscs.SPADEGenerator(3, 16, 8, 8), uscs.MultiScaleDiscriminator(3, 8)
    images, masks = _pairs()
    settings = {"steps": 1, "batch_size": 4, "lr_generator": 1e-3, "lr_discriminator": 1e-3, "seed": 0,
                "progress": False}
    with pytest.raises(ConfigError, match="expected RGB"):
        uscs.train_uscs(images[..., :1], masks, g, d, **settings)
    with pytest.raises(ConfigError, match="mask ids"):
        uscs.train_uscs(images, masks + 1, g, d, **settings)


def test_training_is_deterministic_and_learns_the_colours():
    images, masks = _pairs()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        g, d = uscs.SPADEGenerator(3, 16, 8, 8), uscs.MultiScaleDiscriminator(3, 8)
        runs.append(uscs.train_uscs(images, masks, g, d, steps=60, batch_size=8, lr_generator=1e-3,
                                    lr_discriminator=4e-3, seed=1, log_every=20, progress=False))
    assert [h["g_loss"] for h in runs[0].history] == [h["g_loss"] for h in runs[1].history]
    out = uscs.synthesize(runs[0].generator, masks[:4], seed=5, batch_size=3)
    assert out.shape == (4, 16, 16, 3) and np.array_equal(out, uscs.synthesize(runs[0].generator, masks[:4], seed=5))
    # each cluster's painted colour is nearest to its own colour in the training pairs
    means = np.array([images[masks == c].mean(0) for c in range(3)])
    painted = np.array([out[masks[:4] == c].mean(0) for c in range(3)])
    nearest = np.argmin(((painted[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert nearest.tolist() == [0, 1, 2]
