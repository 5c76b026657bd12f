"""`mlflow ui` shows the suite's runs table, not MLflow 3's GenAI view: a real MLflow server on loopback and a real
headless Chromium (`.ci/run` installs Debian's chromium) open the address README and `make repro` print.

MLflow 3.17's UI takes its workflow (GenAI or model training) from the address or the sidebar toggle, not from the
experiments' `mlflow.experimentKind` tag (which the suite sets all the same): without `workflowType=machine_learning`
an experiment opens on an empty traces overview."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from benchmark import tracking

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_experiment_page_shows_the_runs_table(isolated_mlflow, tmp_path):
    with tracking.stage_run("train_gan", dvc_stage="train_gan@face", params_md5="abc", params={"steps": 3},
                            tags={"domain": "face"}) as run:
        run.log_metrics({"g_loss": 1.25})
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(tracking_uri=isolated_mlflow).get_experiment_by_name("train_gan")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", isolated_mlflow,
                               "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("mlflow ui did not start")
                time.sleep(0.5)
        shot = tmp_path / "ui.png"
        url = f"{base}/#/experiments/{experiment.experiment_id}?workflowType=machine_learning"  # as README says
        common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                  "--virtual-time-budget=30000"]
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=180)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert shot.is_file()
    assert "train_gan@face" in dom  # the run's name: the runs table, not an empty traces view
