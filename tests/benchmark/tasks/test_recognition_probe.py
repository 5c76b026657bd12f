import numpy as np
import pytest

from benchmark.tasks import probe
from klish.errors import ConfigError
from klish.generators import build_discriminator


def test_images_are_padded_or_resized_to_the_gan_resolution():
    mnist_like = np.full((2, 28, 28), 200, np.uint8)
    out = probe.to_resolution(mnist_like, 32)
    assert out.shape == (2, 32, 32, 1) and out[0, 0, 0, 0] == 0 and out[0, 2, 2, 0] == 200
    digits = np.full((3, 8, 8), 255, np.uint8)
    assert probe.to_resolution(digits, 16).shape == (3, 16, 16, 1)
    with pytest.raises(ConfigError, match="square grey images"):
        probe.to_resolution(np.zeros((2, 8, 8, 3), np.uint8), 16)


def test_discriminator_features_follow_the_dcgan_recipe():
    d = build_discriminator("dcgan", width=8, resolution=16, in_channels=1)
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 1)).astype(np.uint8)
    feats = probe.discriminator_features(d, images, batch_size=2)
    assert feats.shape == (5, (8 + 16) * 16)  # layers d8 (8 channels) and d4 (16), each pooled to 4x4
    assert np.allclose(feats[:2], probe.discriminator_features(d, images[:2]), atol=1e-6)  # batch independent


def test_label_subsets_are_stratified():
    labels = np.repeat(np.arange(10), 50)
    keep = probe.label_subset(labels, 0.1, seed=0)
    assert len(keep) == 50 and np.bincount(labels[keep]).tolist() == [5] * 10
    assert len(probe.label_subset(labels, 0.01, seed=0)) == 20  # at least two per class
    with pytest.raises(ConfigError, match="label fraction"):
        probe.label_subset(labels, 0, seed=0)


def test_svm_probe_chooses_c_on_validation_and_scores_the_test_set():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (4, 20))
    y = np.repeat(np.arange(4), 60)
    x = centres[y] + rng.normal(0, 1, (240, 20))
    result = probe.svm_probe(x[:200], y[:200], x[200:], y[200:], seed=0)
    assert result.test_accuracy > 0.9 and result.C in probe.SVM_C_GRID
    assert set(result.validation) == set(probe.SVM_C_GRID)


def test_projecting_out_the_real_fake_direction_removes_the_separation():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(0, 1, (300, 6)), rng.normal(0, 1, (300, 6))
    real[:, 2] += 3.0  # real and generated differ along one axis only
    directions = probe.real_fake_directions(real, fake, 2)
    assert np.allclose(directions @ directions.T, np.eye(2), atol=1e-6)
    assert abs(directions[0, 2]) > 0.9
    both = np.concatenate([real, fake])
    projected = probe.project_out(both, directions, both)
    y = np.r_[np.ones(300), np.zeros(300)]
    from sklearn.linear_model import LogisticRegression
    assert LogisticRegression().fit(projected, y).score(projected, y) < 0.65


def test_supervised_cnn_learns_an_easy_task():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 40)
    images = np.where(labels[:, None, None, None] == 1, 220, 30).astype(np.uint8) + \
        rng.integers(0, 20, (80, 16, 16, 1)).astype(np.uint8)
    model = probe.SupervisedCNN(build_discriminator("dcgan", width=4, resolution=16, in_channels=1), 2)
    losses = probe.train_supervised(model, images, labels, steps=40, batch_size=16, lr=0.01, seed=0, progress=False)
    assert losses[-1] < losses[0] and probe.accuracy(model, images, labels) == 1.0
