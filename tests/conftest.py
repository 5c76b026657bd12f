"""Shared fixtures: MLflow always writes into the test's temporary folder, never the real store."""

from __future__ import annotations

import os
from pathlib import Path

# scikit-learn's array-API common check (numpy namespace) runs only with this set before scipy is imported;
# without it the check is skipped rather than run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]


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
