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
