"""Same content, same bytes: every file format the suite writes, written by two processes with different hash seeds,
is byte-identical (DVC hashes files; a format that reorders itself re-runs everything downstream for nothing). And
outputs get the permissions of an ordinary create under the umask, as git and DVC checkouts have."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from klish.tensor_files import canonical


def _write(out: Path, hash_seed: str, repo: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run([sys.executable, "-m", "tests.write_every_format", str(out)], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, repo):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    old = os.umask(0o022)
    try:
        _write(first, "1", repo)
        _write(second, "2", repo)
    finally:
        os.umask(old)
    return first, second


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_format_is_byte_identical_across_processes(two_runs):
    first, second = (_files(root) for root in two_runs)
    assert set(first) == set(second)
    assert {Path(name).suffix for name in first} >= {".safetensors", ".json", ".npy", ".npz", ".png", ".csv", ".txt"}
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"bytes differ across processes: {differ}"


def test_safetensors_metadata_is_written_in_sorted_order(two_runs):
    data = (two_runs[0] / "numpy.safetensors").read_bytes()
    assert canonical(data) == data
    header = data[8:8 + int.from_bytes(data[:8], "little")].decode()
    assert header.index('"key0"') < header.index('"key1"') < header.index('"key10"') < header.index('"key2"')
    assert (8 + len(header)) % 8 == 0


def test_outputs_get_umask_permissions_not_private_ones(two_runs):
    root = two_runs[0]
    assert stat.S_IMODE((root / "metrics.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "generator.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "grid.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "folder").stat().st_mode) == 0o755
