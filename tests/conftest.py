"""Shared fixtures: MLflow always writes into the test's temporary folder, never the real store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# scikit-learn's array-API common check (numpy namespace) runs only with this set before scipy is imported;
# without it the check is skipped rather than run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]


def clean_copy(repo: Path, work: Path) -> Path:
    """Copy into `work` the files a clean clone of `repo` would have (tracked plus untracked-but-not-ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=repo,
                         capture_output=True, check=True)
    for name in out.stdout.decode().split("\0"):
        if name and (repo / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, work / name)
    return work


def repo_shell(work: Path, timeout: int = 900) -> tuple[dict[str, str], Callable[..., subprocess.CompletedProcess]]:
    """(env, sh): the environment a pipeline runs with in the copy `work` (this interpreter's tools first on PATH,
    MLflow in the copy), and a runner of commands there that captures their output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "DVC_NO_ANALYTICS": "1"}

    def sh(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)

    return env, sh


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return uri


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (read-only use)."""
    return REPO


@pytest.fixture
def one_line_error(capsys: pytest.CaptureFixture):
    """A checker: the captured stderr is exactly one `error: ...` line holding every given fragment."""

    def check(*fragments: str) -> None:
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        for fragment in fragments:
            assert fragment in err[0]

    return check


def check_stage_trace(trace: Path, work: Path, dvc_yaml: str) -> set[str]:
    """Hold what each stage process of a `dvc repro` in `work` ran and read (the KLISH_BENCH_TRACE log) against the
    stage's deps and params in `dvc_yaml`: every project file it imported is covered by its deps, and the params
    sections it loaded are exactly the sections its params name. Returns the entry modules that were traced."""
    import json

    import yaml

    from benchmark.stage_deps import covered, pipeline_stages

    stages = pipeline_stages(Path(dvc_yaml), work)
    raw = yaml.safe_load((work / dvc_yaml).read_text())["stages"]
    seen = set()
    for line in trace.read_text().splitlines():
        record = json.loads(line)
        names = [n for n, (entry, _) in stages.items() if entry == record["entry"]]
        assert names, f"{record['entry']} ran but is no stage of {dvc_yaml}"
        for name in names:
            deps = stages[name][1]
            gaps = [f for f in record["files"] if not covered(Path(f), deps)]
            assert not gaps, f"{dvc_yaml}: stage {name} ran {gaps} but its deps do not cover them"
            declared = {entry.split(".")[0] for entry in raw[name].get("params", [])}
            assert set(record["sections"]) == declared, (
                f"{dvc_yaml}: stage {name} read params sections {record['sections']} but declares {sorted(declared)}")
        seen.add(record["entry"])
    return seen
