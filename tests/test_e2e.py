"""End to end: copy the repository as a clean clone would have it, select the quick profile, run `dvc repro`."""

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from benchmark.cli import TRACE_ENV
from benchmark.params import PROBE_FEATURES
from benchmark.stage_deps import pipeline_stages
from klish.features import FeatureStore
from tests.conftest import check_stage_trace, clean_copy, repo_shell

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, repo):
    work = clean_copy(repo, tmp_path_factory.mktemp("e2e") / "repo")
    # about 82 quick stages at 12-14 s each (start-up and DVC's parse of a dvc.lock that now holds every stage's
    # code deps): about 19 minutes on 2 cores
    env, sh = repo_shell(work, timeout=2400)
    env[TRACE_ENV] = str(work / "stage_trace.jsonl")

    sh("git", "init", "-q")
    assert sh(sys.executable, "-m", "benchmark.profile", "quick").returncode == 0
    result = sh(sys.executable, "-m", "dvc", "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, env, sh


def test_every_stage_produced_its_outputs(pipeline):
    work, _, _ = pipeline
    for domain in ("face", "car", "animal"):
        assert (work / "datasets/world" / domain / "preview.png").is_file()
        assert (work / "artifacts/gan" / domain / "generator.safetensors").is_file()
        store = FeatureStore(work / "artifacts/features" / domain)
        assert len(store) == 24 and store.features.shape[1:3] == (32, 32)
        assert np.isfinite(np.asarray(store.features, np.float32)).all()
        for stage in ("train_gan", "extract_features"):
            metrics = json.loads((work / "results" / stage / domain / "metrics.json").read_text())
            assert metrics["wall_seconds"] > 0
        assert json.loads((work / "results/render_world" / f"{domain}.json").read_text())["n_train"] == 384
        assert json.loads((work / "results/train_parser" / domain / "metrics.json").read_text())["miou_real"] >= 0
        for method in ("klish", "kmeans", "ahc_ward"):
            assert (work / "results/cluster" / domain / method / "s0/masks.png").is_file()
            evaluation = json.loads((work / "results/evaluate_clustering" / domain / f"{method}.json")
                                    .read_text())["s0"]
            assert (work / "results/evaluate_clustering" / domain / method / "s0/curves.csv").is_file()
            assert set(evaluation["ari_pseudo"]) == {"k8", "k16"} and evaluation["n_samples"] == 16
            card = json.loads((work / "datasets/synthetic" / domain / method / "s0/manifest.json").read_text())
            assert card["n_clusters"] == 8 and card["splits"]["train"]["n"] == 64
            ufs = json.loads((work / "results/ufs" / domain / method / "s0/metrics.json").read_text())
            assert 0 <= ufs["miou_real_fg"] <= 1 and 0 <= ufs["miou_real_oracle_fg"] <= 1
        assert (work / "results/ufs" / domain / "supervised/metrics.json").is_file()
        for method, ks in (("rgb", {"k8", "k16"}), ("rgb_xy", {"k8", "k16"}), ("probe", {"k10" if domain == "face"
                                                                                         else "k7"})):
            reference = json.loads((work / "results/cluster_references" / domain / f"{method}.json").read_text())
            assert set(reference) == {"s0"} and set(reference["s0"]["miou_pseudo"]) == ks
        assert (work / "results/cluster_references" / domain / "masks.png").is_file()
    # USCS and FID on the quick profile's one domain (face), a few images each
    for folder in ("uscs/face/klish/s0", "uscs/face/supervised"):
        uscs = json.loads((work / "results" / folder / "metrics.json").read_text())
        assert uscs["fid_inception_8v8"] > 0 and 0 <= uscs["mask_consistency_miou"] <= 1, folder
        assert (work / "results" / folder / "triplets.png").is_file()
    assert np.load(work / "artifacts/fid/face/test.npy").shape == (8, 2048)
    gan = json.loads((work / "results/gan_fid/face/metrics.json").read_text())
    assert gan["fid_inception_8v8_train"] > 0 and np.isfinite(gan["kid_inception_8v8"])
    table = (work / "results/clustering_table/table.md").read_text()
    assert "## K = 8 (1 seeds)" in table and "| probe " in table and "| rgb_xy " in table


def test_every_stage_ran_only_code_and_params_it_declares(pipeline):
    work, _, _ = pipeline
    ran = check_stage_trace(work / "stage_trace.jsonl", work, "dvc.yaml")
    assert ran == {entry for entry, _ in pipeline_stages(Path("dvc.yaml"), work).values()}  # every stage ran


def test_leaderboard_schema_and_cells(pipeline):
    work, _, _ = pipeline
    board = pd.read_csv(work / "results/leaderboard/leaderboard.csv")
    assert list(board.columns) == ["task", "domain", "method", "metric", "mean", "std", "n_seeds",
                                   "higher_is_better"]
    assert np.isfinite(board[["mean", "std"]].to_numpy()).all() and (board["n_seeds"] >= 1).all()
    assert set(board["task"]) == {"clustering", "ufs", "probe", "uscs", "gan_fid"}
    assert set(board[board.task == "uscs"]["method"]) == {"klish", "supervised", "gan", "real"}
    assert set(board[board.task != "probe"]["domain"]) == {"face", "car", "animal"}
    assert set(board[board.task == "ufs"]["method"]) == {"klish", "kmeans", "ahc_ward", "supervised"}
    probe = board[board.task == "probe"]
    assert set(probe["domain"]) == {"digits"} and set(probe["method"]) == set(PROBE_FEATURES)
    assert len(probe) == 3 * len(PROBE_FEATURES)  # accuracy at 1%, 10% and 100% of the labels
    assert "## ufs" in (work / "results/leaderboard/leaderboard.md").read_text()
    assert (work / "results/leaderboard/probe_label_fractions.png").is_file()
    page = (work / "results/leaderboard/index.html").read_text()
    assert "data:image/png;base64," in page and "USCS: input mask, painted image" in page


def test_pipeline_is_up_to_date_and_metrics_are_readable(pipeline):
    _, _, sh = pipeline
    status = sh(sys.executable, "-m", "dvc", "status", "dvc.yaml")  # the world pipeline (pipelines/ is not run)
    assert "up to date" in status.stdout, status.stdout
    shown = sh(sys.executable, "-m", "dvc", "metrics", "show", "--json")
    assert shown.returncode == 0 and "wall_seconds" in shown.stdout


def test_mlflow_has_a_training_run_per_domain(pipeline):
    work, _, _ = pipeline
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["train_gan"])
    assert sorted(runs["tags.domain"]) == ["animal", "car", "face"]
    assert set(runs["tags.profile"]) == {"quick"} and (runs["metrics.g_loss"].notna()).all()
    assert set(runs["status"]) == {"FINISHED"}
    evaluations = mlflow.search_runs(experiment_names=["evaluate_clustering"])
    assert len(evaluations) == 9 + 9 and evaluations["metrics.miou_pseudo"].notna().all()
    assert set(evaluations["tags.method"]) == {"klish", "kmeans", "ahc_ward", "rgb", "rgb_xy", "probe"}
    references = evaluations[evaluations["tags.method"].isin(["rgb", "rgb_xy", "probe"])]
    assert set(references["tags.reference"]) == {"floor", "ceiling"}
    board = mlflow.search_runs(experiment_names=["leaderboard"])
    # (clustering: 3 methods + 3 references, ufs: 3 + supervised) x 3 domains, the probe's feature types, and on
    # the face domain USCS (klish, supervised, gan, real) and gan_fid
    assert len(board) == 3 * 6 + 3 * 4 + len(PROBE_FEATURES) + 4 + 1
    probes = mlflow.search_runs(experiment_names=["probe"])
    assert len(probes) == len(PROBE_FEATURES) and probes["metrics.accuracy_labels_100pct"].notna().all()
    uscs = mlflow.search_runs(experiment_names=["uscs"])
    assert sorted(uscs["tags.method"]) == ["klish", "supervised"] and uscs["metrics.fid_inception_8v8"].notna().all()
    assert len(mlflow.search_runs(experiment_names=["fid"])) == 2  # the reference and the GAN
