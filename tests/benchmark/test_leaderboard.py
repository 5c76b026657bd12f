import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from benchmark import leaderboard as lb
from benchmark.stages import leaderboard
from klish.errors import KlishError
from klish.visualize import save_png

DOMAINS = ("face", "car", "animal")


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["cluster"].update(methods=["klish", "kmeans"], seeds=[0, 1])
    raw["evaluate_clustering"].update(report_k=[4, 8])
    raw["ufs"].update(methods=["klish", "kmeans"], seeds=[0])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    values = {}
    for d in DOMAINS:
        for m in ("klish", "kmeans"):
            by_seed = {}
            for s in (0, 1):
                ari = {"k4": float(rng.random()), "k8": float(rng.random())}
                values[(d, m, s)] = ari
                by_seed[f"s{s}"] = {"ari_pseudo": ari, "ami_pseudo": ari, "miou_pseudo": ari, "eval_seconds": 1.0}
            _write(tmp_path / f"r/ev/{d}/{m}.json", by_seed)  # one file per (domain, method), an entry per seed
            _write(tmp_path / f"r/ufs/{d}/{m}/s0/metrics.json",
                   {"miou_real_fg": 0.3 if m == "klish" else 0.2, "miou_real_fg_per_image": 0.25, "miou_real": 0.5,
                    "miou_real_oracle_fg": 0.4})
            save_png(tmp_path / f"r/ds/{d}/{m}/s0/preview.png", np.zeros((8, 24, 3), np.uint8))
        _write(tmp_path / f"r/ufs/{d}/supervised/metrics.json", {"miou_real_fg": 0.6, "miou_real_fg_per_image": 0.55,
                                                                       "miou_real": 0.7})
        # reference rows: colour floors per seed at the reported K; the probe at its own K (the class count)
        for m in ("rgb", "rgb_xy"):
            _write(tmp_path / f"r/refs/{d}/{m}.json", {f"s{s}": {n: {"k4": 0.01, "k8": 0.02} for n in
                                                                ("ari_pseudo", "ami_pseudo", "miou_pseudo")}
                                                       for s in (0, 1)})
        n_classes = {"face": 10, "car": 7, "animal": 7}[d]
        _write(tmp_path / f"r/refs/{d}/probe.json", {"s0": {n: {f"k{n_classes}": 0.99} for n in
                                                            ("ari_pseudo", "ami_pseudo", "miou_pseudo")}})
    for d in DOMAINS:
        _write(tmp_path / f"r/train_gan/{d}/metrics.json", {"wall_seconds": 10.0, "train_seconds": 9.0})
    return tmp_path, values


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


ARGS = ["--evaluations", "r/ev", "--ufs", "r/ufs", "--datasets", "r/ds", "--out", "r/lb", "--readme", "r/README.md",
        "--timings", "r/ev", "r/train_gan"]


def test_leaderboard_outputs(workdir, isolated_mlflow):
    root, values = workdir
    assert leaderboard.main(ARGS) == 0
    csv = pd.read_csv(root / "r/lb/leaderboard.csv")
    assert list(csv.columns) == lb.COLUMNS
    assert np.isfinite(csv[["mean", "std"]].to_numpy()).all()
    # the mean and std over seeds, never the best seed
    row = csv[(csv.task == "clustering") & (csv.domain == "car") & (csv.method == "kmeans")
              & (csv.metric == "ari_pseudo_k8")].iloc[0]
    seeds = [values[("car", "kmeans", s)]["k8"] for s in (0, 1)]
    assert row["mean"] == pytest.approx(np.mean(seeds), abs=1e-6)
    assert row["std"] == pytest.approx(np.std(seeds, ddof=1), abs=1e-6) and row["n_seeds"] == 2
    sup = csv[(csv.task == "ufs") & (csv.method == "supervised")]
    assert set(sup.domain) == set(DOMAINS) and (sup.n_seeds == 1).all()
    md = (root / "r/lb/leaderboard.md").read_text()
    assert "## ufs" in md and "**0.300 ± 0.000**" in md  # best in bold
    assert "| supervised (upper bound) | 0.600 ± 0.000 " in md  # a reference row: labelled, never bold
    assert "klish face 0.50" in md  # UFS as a fraction of the supervised upper bound
    # both UFS protocols, each said to be which
    assert "miou_real_fg_per_image: the paper's protocol" in md and "miou_real_fg: dataset-level" in md
    per_image = csv[(csv.task == "ufs") & (csv.metric == "miou_real_fg_per_image")]
    assert set(per_image.method) == {"klish", "kmeans", "supervised"}
    page = (root / "r/lb/index.html").read_text()
    # the page opens on the summary: each task's headline table, then the detail
    assert page.index("<section id='summary'>") < page.index("<h2 id='detail'>") < page.index("<h2 id='clustering'>")
    assert "clustering: ari_pseudo_k4" in page and "ufs: miou_real_fg_per_image" in page
    readme = (root / "r/README.md").read_text()
    assert "## ufs: miou_real_fg_per_image" in readme and "| supervised (upper bound) |" in readme
    # stage times: evaluations record eval_seconds per seed (1 s x 2 seeds in each of 2 methods x 3 domains); a GAN
    # records its wall time, which already holds its training time
    times = lb.stage_seconds([root / "r/ev", root / "r/train_gan"]).set_index("stage")
    assert times.loc["ev"].tolist() == [6, 12.0] and times.loc["train_gan"].tolist() == [3, 30.0]
    assert "## Stage times" in readme and "(0.7 minutes in all)" in readme
    assert not re.search(r"(src|href)=['\"]?(http|//)", page)  # self-contained
    assert page.count("data:image/png;base64,") >= 6 + 2 * 3  # bar charts and one strip per domain and method

    # every cell mirrored into MLflow; running again changes nothing
    client = MlflowClient(tracking_uri=isolated_mlflow)
    exp = client.get_experiment_by_name("leaderboard")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == len(csv.groupby(["task", "domain", "method"]))
    ids = {r.info.run_id for r in runs}
    assert leaderboard.main(ARGS) == 0
    assert {r.info.run_id for r in client.search_runs([exp.experiment_id])} == ids
    one = next(r for r in runs if r.data.tags["leaderboard_cell"] == "ufs | face | supervised")
    assert one.data.metrics["miou_real_fg_mean"] == pytest.approx(0.6)
    assert one.data.metrics["miou_real_fg_per_image_mean"] == pytest.approx(0.55)


def test_missing_or_broken_metric_file(workdir, capsys):
    root, _ = workdir
    (root / "r/ufs/car/kmeans/s0/metrics.json").unlink()
    assert leaderboard.main(ARGS) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: r/ufs/car/kmeans/s0/metrics.json: metrics missing") and "\n" not in err
    _write(root / "r/ufs/car/kmeans/s0/metrics.json", {"miou_real_fg": float("nan"), "miou_real": 0.1,
                                                      "miou_real_fg_per_image": 0.1, "miou_real_oracle_fg": 0.1})
    assert leaderboard.main(ARGS) == 2
    assert "miou_real_fg is missing or not a finite number" in capsys.readouterr().err
    assert not (root / "r/lb").exists()
    # a per-seed evaluation file without the entry of a seed in params.yaml
    _write(root / "r/ufs/car/kmeans/s0/metrics.json", {"miou_real_fg": 0.2, "miou_real": 0.1,
                                                      "miou_real_fg_per_image": 0.1, "miou_real_oracle_fg": 0.1})
    _write(root / "r/ev/face/klish.json", {"s0": json.loads((root / "r/ev/face/klish.json").read_text())["s0"]})
    assert leaderboard.main(ARGS) == 2
    assert "r/ev/face/klish.json: no entry 's1'" in capsys.readouterr().err


def test_read_cells_needs_a_file():
    with pytest.raises(KlishError, match="no metric file"):
        lb.read_cells([])


def test_reference_rows(workdir, isolated_mlflow):
    root, _ = workdir
    assert leaderboard.main(["--references", "r/refs", *ARGS]) == 0
    csv = pd.read_csv(root / "r/lb/leaderboard.csv")
    probe = csv[(csv.method == "probe") & (csv.metric == "miou_pseudo_k4")]
    assert set(probe.domain) == set(DOMAINS) and (probe["mean"] == 0.99).all() and (probe.n_seeds == 1).all()
    floor = csv[(csv.method == "rgb_xy") & (csv.metric == "ari_pseudo_k8")]
    assert (floor["mean"] == 0.02).all() and (floor.n_seeds == 2).all()
    md = (root / "r/lb/leaderboard.md").read_text()
    assert "| probe (ceiling) | 0.990 ± 0.000 " in md and "**0.990" not in md  # highest, but a reference
    assert "| rgb (floor) " in md
    (root / "r/refs/car/probe.json").write_text(json.dumps({"s0": {"ari_pseudo": {"k8": 0.5}}}))
    assert leaderboard.main(["--references", "r/refs", *ARGS]) == 2  # the probe's K is the class count (7)


def test_probe_task_rows_and_label_fraction_plot(workdir, isolated_mlflow):
    root, _ = workdir
    features = yaml.safe_load((root / "params.yaml").read_text())["probe"]["features"]
    for i, name in enumerate(features):
        _write(root / f"r/probe/digits/{name}.json", {"accuracy_labels_1pct": 0.5 + i / 100,
                                                      "accuracy_labels_10pct": 0.7, "accuracy_labels_100pct": 0.9})
    assert leaderboard.main(["--probe", "r/probe", *ARGS]) == 0
    csv = pd.read_csv(root / "r/lb/leaderboard.csv")
    probe = csv[csv.task == "probe"]
    assert set(probe.domain) == {"digits"} and set(probe.method) == set(features)
    assert set(probe.metric) == {"accuracy_labels_1pct", "accuracy_labels_10pct", "accuracy_labels_100pct"}
    md = (root / "r/lb/leaderboard.md").read_text()
    assert "## probe" in md and "| pixels (control) " in md and "| supervised_cnn (upper bound) " in md
    assert "| discriminator_random (control) " in md and "**0.900 ± 0.000**" in md
    assert (root / "r/lb/probe_label_fractions.png").stat().st_size > 1000
    assert "alt=\"probe figure\"" in (root / "r/lb/index.html").read_text()
    (root / "r/probe/digits/pixels.json").unlink()
    assert leaderboard.main(["--probe", "r/probe", *ARGS]) == 2


def test_uscs_task_rows_references_and_triplet_gallery(workdir, isolated_mlflow, capsys):
    root, _ = workdir
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["uscs"].update(domains=["face", "car"], methods=["klish", "kmeans"], seeds=[0])
    raw["fid"]["n_samples"] = 5
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    for d in ("face", "car"):
        for m, fid in (("klish", 90.0), ("kmeans", 120.0), ("supervised", 40.0)):
            folder = root / f"r/uscs/{d}/{m}" / ("" if m == "supervised" else "s0")
            _write(folder / "metrics.json", {"fid_inception_5v5": fid, "kid_inception_5v5": fid / 1000,
                                             "mask_consistency_miou": 0.5})
            save_png(folder / "triplets.png", np.zeros((8, 24, 3), np.uint8))
        _write(root / f"r/gan_fid/{d}/metrics.json", {"fid_inception_5v5": 80.0, "kid_inception_5v5": 0.08,
                                                      "fid_inception_5v5_train": 81.0,
                                                      "kid_inception_5v5_train": 0.081})
        _write(root / f"r/fidref/{d}/metrics.json", {"fid_inception_5v5": 10.0, "kid_inception_5v5": 0.0})
    uscs_args = ["--uscs", "r/uscs", "--gan-fid", "r/gan_fid", "--fid-reference", "r/fidref", *ARGS]
    assert leaderboard.main(uscs_args) == 0
    csv = pd.read_csv(root / "r/lb/leaderboard.csv")
    rows = csv[csv.task == "uscs"]
    assert set(rows.domain) == {"face", "car"} and set(rows.method) == {"klish", "kmeans", "supervised", "gan", "real"}
    assert not rows[rows.metric == "fid_inception_5v5"].higher_is_better.any()
    assert set(rows[rows.metric == "mask_consistency_miou"].method) == {"klish", "kmeans", "supervised"}
    gan = csv[csv.task == "gan_fid"]
    assert set(gan.metric) == {"fid_inception_5v5_train", "kid_inception_5v5_train"} and set(gan.method) == {"gan"}
    md = (root / "r/lb/leaderboard.md").read_text()
    assert "## uscs" in md and "**90.000 ± 0.000**" in md  # lower FID is better; references are never bold
    assert re.search(r"\| real \(real train images: the best reachable\)\s+\| 10\.000 ± 0\.000 ", md)
    assert re.search(r"\| supervised \(upper bound\)\s+\| 40\.000 ± 0\.000 ", md)
    page = (root / "r/lb/index.html").read_text()
    assert "USCS: input mask, painted image" in page and page.count("alt=\"face supervised\"") == 1
    (root / "r/uscs/car/kmeans/s0/metrics.json").unlink()
    capsys.readouterr()
    assert leaderboard.main(uscs_args) == 2
    assert "r/uscs/car/kmeans/s0/metrics.json: metrics missing" in capsys.readouterr().err
