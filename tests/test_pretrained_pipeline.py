"""The pretrained-GAN pipeline on the `paper` profile's code path, on CPU, with a tiny stand-in: a StyleGAN2 checkpoint
in the rosinality layout ({"g_ema", "latent_avg"}) served over a loopback HTTP server, the paper's settings shrunk to
seconds. `dvc repro pipelines/pretrained/dvc.yaml` in a clean copy must fetch, verify, convert, extract (truncation in
W space), cluster, describe without labels and write the page."""

import functools
import hashlib
import http.server
import json
import sys
import threading

import numpy as np
import pytest
import torch
import yaml

from benchmark.cli import TRACE_ENV
from klish.features import FeatureStore
from klish.generators import load_checkpoint
from tests.conftest import check_stage_trace, clean_copy, repo_shell
from tests.rosinality_layout import STYLE, rosinality_state

pytestmark = pytest.mark.e2e
GAN = "stylegan2-ffhq-1024"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    www = tmp_path_factory.mktemp("www")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, repo, served):
    www, url = served
    latent_avg = torch.full((1, STYLE), 0.25)
    torch.save({"g_ema": rosinality_state(), "latent_avg": latent_avg}, www / "ffhq.pt")
    sha = hashlib.sha256((www / "ffhq.pt").read_bytes()).hexdigest()
    work = clean_copy(repo, tmp_path_factory.mktemp("pretrained") / "repo")
    env, sh = repo_shell(work, timeout=600)
    env[TRACE_ENV] = str(work / "stage_trace.jsonl")

    sh("git", "init", "-q")
    assert sh(sys.executable, "-m", "benchmark.profile", "paper").returncode == 0
    path = work / "pipelines/pretrained/params.yaml"
    params = yaml.safe_load(path.read_text())
    assert params["base"]["profile"] == "paper" and params["extract_features"]["truncation"] == 0.5
    # The stand-in replaces the paper's checkpoint and sizes; layout, key, truncation, C, device stay the paper's.
    params["fetch_checkpoint"]["checkpoints"] = {GAN: {**params["fetch_checkpoint"]["checkpoints"][GAN],
                                                       "source": f"{url}/ffhq.pt", "sha256": sha}}
    params["pretrained"]["gans"] = [GAN]
    params["pretrained"]["models"][GAN]["select_k"] = 4
    params["extract_features"].update(n_samples=4, size=16, batch_size=2)
    params["cluster"].update(methods=["klish", "kmeans"], seeds=[0, 1], n_init_clusters=6, k_values=[2, 3, 4],
                             preview_k=3, max_iter=5)
    params["evaluate_clustering"].update(k_max=6, report_k=[3])
    path.write_text(yaml.safe_dump(params))
    result = sh(sys.executable, "-m", "dvc", "repro", "pipelines/pretrained/dvc.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = check_stage_trace(work / "stage_trace.jsonl", work, "pipelines/pretrained/dvc.yaml")
    assert len(ran) == 5, sorted(ran)  # fetch, extract, cluster, label-free, page: code and params as declared
    return work / "pipelines/pretrained", latent_avg


def test_checkpoint_fetched_verified_and_converted(pipeline):
    root, latent_avg = pipeline
    generator, sidecar = load_checkpoint(root / "artifacts/checkpoints" / GAN / "generator.safetensors")
    assert sidecar["arch"] == "stylegan2" and sidecar["layout"] == "rosinality_stylegan2"
    assert sidecar["source"].startswith("http://127.0.0.1:") and sidecar["source_sha256_pinned"] is True
    torch.testing.assert_close(generator.w_avg, latent_avg.reshape(-1))
    assert (root / "results/fetch_checkpoint" / GAN / "samples.png").is_file()


def test_features_truncated_in_w_space(pipeline):
    root, _ = pipeline
    store = FeatureStore(root / "artifacts/features" / GAN)
    manifest = json.loads((root / "artifacts/features" / GAN / "manifest.json").read_text())
    assert manifest["latent"]["truncation"] == 0.5 and manifest["latent"]["truncation_space"] == "w"
    assert [layer["name"] for layer in manifest["layers"]] == ["b4", "b8.1", "b16.1"]
    assert len(store) == 4 and np.isfinite(np.asarray(store.features, np.float32)).all()


def test_label_free_figures_and_page(pipeline):
    root, _ = pipeline
    metrics = json.loads((root / "results/label_free" / f"{GAN}.json").read_text())
    for k in (3, 4):  # report_k plus the GAN's select_k
        assert -1.0 <= metrics[f"seed_ari_klish_k{k}"] <= 1.0
        assert -1.0 <= metrics[f"ari_klish_vs_kmeans_k{k}"] <= 1.0
    for name in ("masks.png", "between_methods.png", "merge_curve.png", "agreement.csv", "README.md"):
        assert (root / "results/label_free" / GAN / name).is_file(), name
    page = (root / "results/leaderboard/index.html").read_text()
    assert GAN in page and page.count("data:image/png;base64,") == 4  # samples, masks, heat maps, merge curve
    md = (root / "results/leaderboard/leaderboard.md").read_text()
    assert f"](../label_free/{GAN}/masks.png)" in md and "Agreement across seeds" in md
