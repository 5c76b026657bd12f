import numpy as np
import pytest
import torch

from benchmark.data.shards import read_split
from benchmark.data.synthetic import auto_select_k, synthesize
from klish.extractor import LinearExtractor
from klish.features.extract import generate_with_features
from klish.generators import build_generator
from klish.seeding import sample_latents

LAYERS = ["b8.1", "b16.1"]


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    g = build_generator("dcgan", resolution=32, z_dim=8, width=4, upsample="nearest")
    return g.eval()


def _extractor(channels, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return LinearExtractor(rng.normal(size=(k, channels)).astype(np.float32), rng.normal(size=k).astype(np.float32))


def _channels(generator):
    _, feats = generate_with_features(generator, sample_latents(0, range(1), generator.z_dim), LAYERS, 16)
    return feats.shape[-1]


def test_auto_select_k_picks_the_largest_drop_of_the_merging_metric():
    metrics = {10: 0.9, 9: 0.85, 8: 0.8, 7: 0.3, 6: 0.25, 5: 0.2}  # the merge at 7 is far less alike than at 8
    assert auto_select_k(metrics, 5, 9) == 7
    assert auto_select_k(metrics, 2, 4) is None


def test_synthesize_is_batch_independent_and_matches_the_extractor(generator, tmp_path):
    ext = _extractor(_channels(generator))
    card = {"domain": "face", "method": "test"}
    kwargs = dict(layers=LAYERS, size=16, normalize="none", n_samples=7, seed=5, truncation=1.0, shard_size=3,
                  card=card)
    a = synthesize(generator, ext, tmp_path / "a", batch_size=2, **kwargs)
    synthesize(generator, ext, tmp_path / "b", batch_size=7, **kwargs)
    for part in ("images", "masks"):
        np.testing.assert_array_equal(read_split(tmp_path / "a", "train", part),
                                      read_split(tmp_path / "b", "train", part))
    assert a["n_clusters"] == 5 and a["splits"]["train"]["n"] == 7 and a["domain"] == "face"
    assert abs(sum(a["cluster_pixel_share"]) - 1) < 1e-5
    # sample 3's mask is the extractor's argmax on sample 3's own features, resized to the image resolution
    images, feats = generate_with_features(generator, sample_latents(5, range(3, 4), generator.z_dim), LAYERS, 16)
    expected = ext.predict_masks(feats.numpy(), 32)[0]
    np.testing.assert_array_equal(read_split(tmp_path / "a", "train", "masks")[3], expected)
    for name in ("README.md", "preview.png", "manifest.json"):
        assert (tmp_path / "a" / name).is_file()


def test_too_many_clusters_for_uint8_masks(generator, tmp_path):
    from klish.errors import ConfigError
    ext = _extractor(_channels(generator), k=300)
    with pytest.raises(ConfigError, match="at most 255"):
        synthesize(generator, ext, tmp_path / "x", layers=LAYERS, size=16, normalize="none", n_samples=2, seed=0,
                   truncation=1.0, batch_size=2, shard_size=2, card={})
    assert not (tmp_path / "x").exists()
