"""Stage label_free: the ARI helpers on known labellings, and one line when its inputs are missing."""

import numpy as np

from benchmark.stages import label_free


def test_ari_is_one_for_a_relabelling_and_agreement_rows_pair_seeds():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert label_free.ari(a, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    labels = {"m": {0: {3: a}, 1: {3: a[::-1].copy()}, 2: {3: np.array([0, 1, 0, 1, 0, 1])}}}
    row = label_free.agreement_rows(labels, [3]).iloc[0]
    assert row["n_seeds"] == 3 and row["seed_ari_min"] < 0 < row["seed_ari_mean"] < 1
    matrix = label_free.between_methods({"x": {0: {3: a}}, "y": {0: {3: a}}}, 3)
    assert matrix.loc["x", "y"] == 1.0


def test_missing_clusterings_are_one_line(tmp_path, monkeypatch, repo, capsys, one_line_error):
    (tmp_path / "params.yaml").write_text((repo / "profiles" / "external.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    from klish.features import extract_features
    from klish.generators import build_generator

    extract_features(build_generator("dcgan", z_dim=4, width=4, resolution=8), tmp_path / "f", n_samples=2, seed=0,
                     size=8, progress=False)
    capsys.readouterr()
    code = label_free.main(["--domain", "g", "--features", "f", "--clusters", "c", "--results", "r",
                            "--metrics", "r.json"])
    assert code == 2
    one_line_error("c/klish/s0/extractors.safetensors: not found (run the cluster stage for klish first)")
    assert not (tmp_path / "r").exists()  # nothing written
