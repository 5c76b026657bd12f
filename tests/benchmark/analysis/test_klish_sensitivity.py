import numpy as np
import pandas as pd
import pytest

from benchmark.analysis import klish_sensitivity
from benchmark.data.world import get_domain
from klish import build_generator, extract_features
from klish.features import FeatureStore


def test_variants_are_scored_at_each_k(tmp_path):
    generator = build_generator("dcgan", z_dim=8, width=4, resolution=16, upsample="nearest").eval()
    extract_features(generator, tmp_path / "store", n_samples=2, seed=0, size=16, progress=False,
                     generator_info={"domain": "face"})
    extract_features(generator, tmp_path / "eval" / "features", n_samples=2, seed=1, size=16, progress=False)
    np.save(tmp_path / "eval" / "pseudo_gt.npy", np.random.default_rng(0).integers(0, 10, (2, 16, 16)))
    out = tmp_path / "table"
    finest = FeatureStore(tmp_path / "store").layers[-1]["name"]
    subset = f"kmeans+layers={finest}"
    rc = klish_sensitivity.main(["--features", str(tmp_path / "store"), "--eval", str(tmp_path / "eval"),
                                 "--images", "2", "--k", "3", "4", "--variants", "k0=12", "kmeans", "l2",
                                 "rgb_xy", "std+Crel=100+k0=12", subset, "--out", str(out)])
    assert rc == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table[["variant", "k"]].values.tolist() == [["k0=12", 3], ["k0=12", 4], ["kmeans", 3], ["kmeans", 4],
                                                       ["l2", 3], ["l2", 4], ["rgb_xy", 3], ["rgb_xy", 4],
                                                       ["std+Crel=100+k0=12", 3], ["std+Crel=100+k0=12", 4],
                                                       [subset, 3], [subset, 4]]
    assert table["miou_pseudo"].between(0, 1).all() and table["largest_share"].between(0, 1).all()
    assert (table["seed"] == 0).all()
    per_class = table[[f"iou_{c}" for c in get_domain("face").classes]]
    np.testing.assert_allclose(per_class.mean(axis=1), table["miou_pseudo"], atol=1e-3)  # mIoU is their mean


def test_variant_grammar():
    spec = klish_sensitivity.parse_variant("l2+Crel=2000+k0=50")
    assert spec == {"method": "klish", "prep": "l2", "C": 2000.0, "C_scaling": "feature_variance", "k0": 50,
                    "layers": None}
    assert klish_sensitivity.parse_variant("kmeans+layers=b16.1,b32.1")["layers"] == ["b16.1", "b32.1"]
    assert klish_sensitivity.parse_variant("base")["C"] == 5000.0
    with pytest.raises(SystemExit, match="unknown variant token 'c=5'"):
        klish_sensitivity.parse_variant("c=5")


def test_normalise_layers_gives_unit_blocks():
    layers = [{"offset": 0, "channels": 2}, {"offset": 2, "channels": 3}]
    out = klish_sensitivity.normalise_layers(np.arange(1, 11, dtype=np.float32).reshape(2, 5), layers)
    np.testing.assert_allclose(np.linalg.norm(out[:, :2], axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[:, 2:], axis=1), 1, rtol=1e-6)


def test_layer_subset_keeps_the_named_blocks_in_order():
    layers = [{"name": "a", "offset": 0, "channels": 2}, {"name": "b", "offset": 2, "channels": 3}]
    features = np.arange(10, dtype=np.float32).reshape(2, 5)
    out, kept = klish_sensitivity.select_layers(features, layers, ["b"])
    np.testing.assert_array_equal(out, features[:, 2:])
    assert kept == [{"name": "b", "offset": 0, "channels": 3}]
    with pytest.raises(SystemExit, match="unknown layer"):
        klish_sensitivity.select_layers(features, layers, ["c"])
