"""The one module that talks to MLflow.

Store: `MLFLOW_TRACKING_URI`, else an absolute `sqlite:///<repo>/mlflow.db` (the repository root even when DVC runs
an experiment in a temporary copy under .dvc/tmp/exps); artifacts next to it in `mlartifacts/`. One experiment per
task; every run is tagged with git_commit, git_dirty, dvc_stage, params_md5, profile, domain, method and seed.
Idempotent: a stage re-run with the same (dvc_stage, params_md5, git_commit) replaces its earlier run, once the new
run has finished (an interrupted re-run leaves the earlier run in place). `check_store()` tries a write to the store
before a stage starts its work, so an unusable tracking URI is one line, not minutes of retries after the outputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from klish.errors import KlishError

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

log = logging.getLogger(__name__)

_TEMP_EXPERIMENTS = f"{os.sep}.dvc{os.sep}tmp{os.sep}exps{os.sep}"


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The DVC repository root above `start` (default: the working directory), skipping DVC's temporary copies: the
    nearest folder with `.dvc/`, else the nearest with a dvc.yaml (a sub-pipeline's folder is not a root)."""
    path = Path(start or os.getcwd()).resolve()
    text = str(path) + os.sep
    if _TEMP_EXPERIMENTS in text:
        return Path(text.split(_TEMP_EXPERIMENTS)[0])
    candidates = (path, *path.parents)
    for candidate in candidates:
        if (candidate / ".dvc").is_dir():
            return candidate
    for candidate in candidates:
        if (candidate / "dvc.yaml").is_file():
            return candidate
    return path


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else the absolute SQLite store at the repository root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


class TrackingError(KlishError):
    """The MLflow tracking store cannot be written."""


def check_store() -> None:
    """Fail in one line, before any work, when the tracking store cannot take a write: for a SQLite URI, open the
    database and take its write lock (then release it); other stores are MLflow's to check."""
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri[len("sqlite:///"):])
    where = "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "the default tracking store"
    try:
        connection = sqlite3.connect(path, timeout=10)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise TrackingError(f"{where} {uri}: cannot write the MLflow database ({exc}); point MLFLOW_TRACKING_URI at a "
                            f"writable sqlite:///<absolute path>.db") from None


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def git_state() -> dict[str, str]:
    """{"git_commit": sha or "unknown", "git_dirty": "true"/"false"} of the repository."""
    commit = _git("rev-parse", "HEAD") or "unknown"
    dirty = "true" if _git("status", "--porcelain", "--untracked-files=no") else "false"
    return {"git_commit": commit, "git_dirty": dirty}


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping to dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


# MLflow 3's UI opens an experiment on its GenAI view (traces, prompts) unless the experiment says it is model
# training; the UI's accepted values include "custom_model_development" (its runs table).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def _experiment_id(client: Any, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if any(experiment.tags.get(k) != v for k, v in EXPERIMENT_KIND.items()):
            for key, value in EXPERIMENT_KIND.items():
                client.set_experiment_tag(experiment.experiment_id, key, value)
        return experiment.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts beside the database, not in ./mlruns of whatever the working directory is.
        location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)


class StageRun:
    """An open MLflow run of one stage execution: log metrics (optionally as curves) and artifacts."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log numeric metrics (non-numbers are skipped), at `step` for curves."""
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.client.log_metric(self.run_id, key, float(value), step=step or 0)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Attach a file (a picture, a curve) to the run."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))


@contextlib.contextmanager
def stage_run(experiment: str, *, dvc_stage: str, params_md5: str, params: Mapping[str, Any],
              tags: Mapping[str, Any]) -> Iterator[StageRun]:
    """Open a run for one stage execution; once it has finished, it replaces any earlier run of the same stage,
    params and commit.

    Params are logged once (flattened to dotted keys); the run ends FINISHED, or FAILED if the stage raised (the
    earlier runs are then kept).
    """
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, experiment, uri)
    all_tags = {**git_state(), "dvc_stage": dvc_stage, "params_md5": params_md5,
                **{k: str(v) for k, v in tags.items()}}
    query = (f"tags.dvc_stage = '{dvc_stage}' AND tags.params_md5 = '{params_md5}' "
             f"AND tags.git_commit = '{all_tags['git_commit']}'")
    earlier = [old.info.run_id for old in client.search_runs([experiment_id], filter_string=query)]
    run = client.create_run(experiment_id, run_name=dvc_stage, tags=all_tags)
    run_id = run.info.run_id
    flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(k, v) for k, v in flat.items()])
    log.info("MLflow run %s in experiment %r at %s", run_id, experiment, uri)
    try:
        yield StageRun(client, run_id)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    for old in earlier:
        client.delete_run(old)


def mirror_cell(experiment: str, cell: str, metrics: Mapping[str, float], tags: Mapping[str, Any]) -> bool:
    """Keep exactly one run tagged `cell` in `experiment` holding `metrics`: nothing changes when the run there
    already holds the same values (idempotent); otherwise older runs of the cell are replaced. Returns whether a run
    was written."""
    import hashlib
    import json
    import time

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, experiment, uri)
    digest = hashlib.md5(json.dumps({k: round(float(v), 12) for k, v in sorted(metrics.items())}).encode(),
                         usedforsecurity=False).hexdigest()
    old = client.search_runs([experiment_id], filter_string=f"tags.leaderboard_cell = '{cell}'")
    if len(old) == 1 and old[0].data.tags.get("values_md5") == digest:
        return False
    all_tags = {**git_state(), "leaderboard_cell": cell, "values_md5": digest, **{k: str(v) for k, v in tags.items()}}
    run_id = client.create_run(experiment_id, run_name=cell, tags=all_tags).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    client.set_terminated(run_id, status="FINISHED")
    for run in old:  # replaced only once the new run is complete
        client.delete_run(run.info.run_id)
    return True
