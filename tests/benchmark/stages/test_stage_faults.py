"""The faults a probe found, each one line and exit 2 with nothing written: a feature store with NaN or inf, an empty
features.npy, an unwritable MLflow store."""

import time

import numpy as np
import pytest
import torch
import yaml

from benchmark.stages import cluster
from klish.features import extract_features
from klish.generators import build_generator


@pytest.fixture
def store(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["cluster"].update(n_init_clusters=6, k_values=[3, 4], preview_k=4, seeds=[0], methods=["kmeans", "klish"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    generator = build_generator("dcgan", z_dim=8, width=4, resolution=32, upsample="nearest").eval()
    extract_features(generator, tmp_path / "f", n_samples=3, seed=1, size=8, progress=False)
    return tmp_path / "f"


def _cluster(method="kmeans", features="f"):
    return cluster.main(["--domain", "face", "--method", method, "--features", features, "--out", "c",
                         "--results", "r", "--metrics", "m.json"])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_name_the_file_and_the_count(store, one_line_error, bad):
    features = np.load(store / "features.npy", mmap_mode="r+")
    features[0, 0, 0, :3] = bad
    features.flush()
    del features
    for method in ("kmeans", "klish"):
        assert _cluster(method) == 2
        one_line_error("f/features.npy: 3 non-finite feature values (NaN or inf)")
        assert not any((store.parent / name).exists() for name in ("c", "r", "m.json"))


def test_empty_features_file_is_one_line(store, one_line_error):
    (store / "features.npy").write_bytes(b"")
    assert _cluster() == 2
    one_line_error("f/features.npy: unreadable")
    assert not (store.parent / "c").exists()


def test_unwritable_tracking_store_fails_early_in_one_line(store, one_line_error, monkeypatch, tmp_path):
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'not_a_folder' / 'mlflow.db'}")
    start = time.perf_counter()
    assert _cluster() == 2
    assert time.perf_counter() - start < 30  # not minutes of retries
    one_line_error("MLFLOW_TRACKING_URI sqlite:///", "cannot write the MLflow database")
    assert not any((store.parent / name).exists() for name in ("c", "r", "m.json"))
