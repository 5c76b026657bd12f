import json

import pandas as pd
import pytest
import yaml

from benchmark.stages import clustering_table


def _write(root, domain, method, seed, ari, miou):
    """Add seed's entry to the (domain, method) evaluation file, as evaluate_clustering writes it."""
    path = root / domain / f"{method}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    by_seed = json.loads(path.read_text()) if path.is_file() else {}
    by_seed[f"s{seed}"] = {"ari_pseudo": {"k8": ari}, "ami_pseudo": {"k8": 0.5}, "miou_pseudo": {"k8": miou},
                           "parser_miou_real": 0.9}
    path.write_text(json.dumps(by_seed))


@pytest.fixture
def params(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["cluster"].update(methods=["klish", "kmeans"], seeds=[0, 1])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)


def test_means_and_stds_over_seeds(tmp_path, params, capsys):
    root = tmp_path / "eval"
    for seed, (ari, miou) in enumerate([(0.1, 0.4), (0.3, 0.6)]):
        _write(root, "face", "klish", seed, ari, miou)
    _write(root, "face", "kmeans", 0, 0.2, 0.5)
    _write(root, "face", "kmeans", 1, 0.2, 0.5)
    _write(root, "face", "kmeans", 5, 0.9, 0.9)  # a seed the params do not list (another profile's): ignored
    _write(root, "face", "kasp", 0, 0.9, 0.9)  # a method the params do not list: ignored
    assert clustering_table.main(["--evaluations", str(root), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "table.csv").set_index(["method", "metric"])
    assert table.loc[("klish", "ari_pseudo"), "mean"] == pytest.approx(0.2)
    assert table.loc[("klish", "miou_pseudo"), "std"] == pytest.approx(0.1414214, abs=1e-6)  # ddof=1
    assert table.loc[("kmeans", "ari_pseudo"), "n_seeds"] == 2 and table.loc[("kmeans", "ari_pseudo"), "std"] == 0
    assert "kasp" not in table.index.get_level_values("method")
    md = (tmp_path / "out" / "table.md").read_text()
    assert "## K = 8" in md and "0.200 ± 0.141" in md and "face 0.900" in md


def test_missing_cells_are_a_one_line_error(tmp_path, params, capsys):
    assert clustering_table.main(["--evaluations", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no <domain>/<method>.json evaluation files" in capsys.readouterr().err
    _write(tmp_path / "eval", "face", "klish", 0, 0.1, 0.4)
    assert clustering_table.main(["--evaluations", str(tmp_path / "eval"), "--out", str(tmp_path / "out")]) == 2
    assert "face/klish.json: no entry for seed s1" in capsys.readouterr().err
    (tmp_path / "eval/face/klish.json").unlink()
    _write(tmp_path / "eval", "face", "kmeans", 0, 0.1, 0.4)
    assert clustering_table.main(["--evaluations", str(tmp_path / "eval"), "--out", str(tmp_path / "out")]) == 2
    assert "face/klish.json: evaluation missing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_reference_rows(tmp_path, params):
    root, refs = tmp_path / "eval", tmp_path / "refs"
    for method in ("klish", "kmeans"):
        for seed in (0, 1):
            _write(root, "face", method, seed, 0.2, 0.5)
    for seed in (0, 1):
        _write(refs, "face", "rgb", seed, 0.05 * (seed + 1), 0.1)
        _write(refs, "face", "rgb_xy", seed, 0.1, 0.2)
    (refs / "face" / "probe.json").write_text(json.dumps(
        {"s0": {"ari_pseudo": {"k10": 0.7}, "ami_pseudo": {"k10": 0.6}, "miou_pseudo": {"k10": 0.8}}}))
    assert clustering_table.main(["--evaluations", str(root), "--references", str(refs),
                                  "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "table.csv").set_index(["method", "k", "metric"])
    assert table.loc[("rgb", 8, "ari_pseudo"), "mean"] == pytest.approx(0.075)
    assert table.loc[("rgb", 8, "ari_pseudo"), "n_seeds"] == 2
    # the probe's one K (the class count) is shown in the table of every reported K
    assert table.loc[("probe", 8, "miou_pseudo"), "mean"] == pytest.approx(0.8)
    assert table.loc[("probe", 8, "miou_pseudo"), "n_seeds"] == 1
    assert "`probe` is the ceiling" in (tmp_path / "out" / "table.md").read_text()
