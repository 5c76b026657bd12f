import numpy as np
import pytest
import torch

from klish.errors import FeatureStoreError
from klish.features import FeatureStore, extract_features, feature_shapes, prepare_maps
from klish.features.selection import auto_layer_selection
from klish.generators import build_generator


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    g = build_generator("dcgan", z_dim=8, width=4, resolution=32, upsample="nearest")
    g.train()
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        for _ in range(3):
            g(torch.randn(16, 8))
    return g.eval()


def test_shapes_and_manifest_match_the_generator(generator, tmp_path):
    manifest = extract_features(generator, tmp_path / "store", n_samples=5, seed=1, size=16, batch_size=2,
                                progress=False)
    store = FeatureStore(tmp_path / "store")
    shapes = feature_shapes(generator, 8)
    chosen = auto_layer_selection(shapes)
    assert [layer["name"] for layer in store.layers] == chosen
    channels = {n: c for n, c, _ in shapes}
    assert store.features.shape == (5, 16, 16, sum(channels[n] for n in chosen))
    assert store.features.dtype == np.float16
    assert store.images.shape == (5, 32, 32, 3) and store.latents.shape == (5, 8)
    offsets = [layer["offset"] for layer in store.layers]
    assert offsets == list(np.cumsum([0] + [channels[n] for n in chosen[:-1]]))
    assert store.layer_slice(chosen[-1]).stop == manifest["channels"]
    assert sum(chunk.shape[0] for chunk in store.pixels(chunk_images=2)) == 5 * 16 * 16


def test_batch_size_does_not_change_features(generator, tmp_path):
    extract_features(generator, tmp_path / "b1", n_samples=6, seed=2, size=32, batch_size=1, progress=False)
    extract_features(generator, tmp_path / "b16", n_samples=6, seed=2, size=32, batch_size=16, progress=False)
    a, b = FeatureStore(tmp_path / "b1"), FeatureStore(tmp_path / "b16")
    np.testing.assert_array_equal(a.latents, b.latents)
    np.testing.assert_array_equal(a.images, b.images)
    # fp16 storage: equal up to one unit in the last place of the largest values
    np.testing.assert_allclose(np.asarray(a.features, np.float32), np.asarray(b.features, np.float32),
                               rtol=2e-3, atol=1e-3)


def test_features_are_the_resized_layer_outputs(generator, tmp_path):
    extract_features(generator, tmp_path / "s", n_samples=2, seed=3, size=32, layers=["b4", "b32.1"],
                     progress=False)
    store = FeatureStore(tmp_path / "s")
    z = torch.from_numpy(np.array(store.latents))
    maps = {}
    hooks = [dict(generator.named_modules())[generator.feature_layers[n]].register_forward_hook(
        lambda _m, _i, out, n=n: maps.__setitem__(n, out)) for n in ("b4", "b32.1")]
    with torch.no_grad():
        generator(z)
    for h in hooks:
        h.remove()
    up = torch.nn.functional.interpolate(maps["b4"], size=(32, 32), mode="bilinear", align_corners=True)
    expected = torch.cat([up, maps["b32.1"]], 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(store.features, np.float32), expected, rtol=1e-2, atol=1e-3)


def test_l2_normalisation_is_per_layer():
    maps = [torch.randn(2, 5, 4, 4) * 10, torch.randn(2, 3, 8, 8)]
    out = prepare_maps(maps, 8, normalize="l2")  # [2, 8, 8, 8]
    assert out.shape == (2, 8, 8, 8)
    torch.testing.assert_close(out[..., 5:].norm(dim=-1), torch.ones(2, 8, 8))
    # the upsampled first layer is a blend of unit vectors: norms at most one
    assert out[..., :5].norm(dim=-1).max() <= 1.0 + 1e-5


def test_same_seed_same_store(generator, tmp_path):
    extract_features(generator, tmp_path / "x", n_samples=3, seed=9, size=8, progress=False)
    extract_features(generator, tmp_path / "y", n_samples=3, seed=9, size=8, progress=False)
    for name in ("features.npy", "images.npy", "latents.npy"):
        assert (tmp_path / "x" / name).read_bytes() == (tmp_path / "y" / name).read_bytes()


def test_store_errors_are_clear(generator, tmp_path):
    with pytest.raises(FeatureStoreError, match="manifest not found"):
        FeatureStore(tmp_path)
    extract_features(generator, tmp_path / "z", n_samples=2, seed=1, size=8, progress=False)
    (tmp_path / "z" / "images.npy").unlink()
    with pytest.raises(FeatureStoreError, match="images.npy: missing from the feature store"):
        FeatureStore(tmp_path / "z")
