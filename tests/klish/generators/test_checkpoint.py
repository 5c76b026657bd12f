import json

import pytest
import torch

from klish.errors import CheckpointError
from klish.generators import build_generator, load_checkpoint, save_checkpoint
from klish.generators.checkpoint import load_state

KW = {"z_dim": 8, "width": 4, "resolution": 32, "upsample": "nearest"}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    g = build_generator("dcgan", **KW).eval()
    path = tmp_path / "generator.safetensors"
    save_checkpoint(path, g, arch="dcgan", role="generator", kwargs=KW, step=3, seed=1, source="test")
    return g, path


def test_round_trip_gives_identical_outputs(saved):
    g, path = saved
    loaded, sidecar = load_checkpoint(path)
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(g(z), loaded(z))
    assert sidecar["step"] == 3 and sidecar["kwargs"] == KW and len(sidecar["sha256"]) == 64
    assert not loaded.training


def test_truncated_checkpoint_is_rejected(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="sha256 mismatch, the file is corrupt or truncated"):
        load_checkpoint(path)


def test_unreadable_safetensors_is_one_line(saved):
    _, path = saved
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as err:
        load_state(path)
    assert "not a readable safetensors file" in str(err.value) and "\n" not in str(err.value)


def test_missing_sidecar_and_missing_file(saved, tmp_path):
    _, path = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="sidecar not found"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_state(tmp_path / "nope.safetensors")


def test_wrong_architecture_in_sidecar(saved):
    _, path = saved
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["kwargs"]["width"] = 8
    side.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights do not match dcgan"):
        load_checkpoint(path)


def test_pickles_are_not_unpickled_by_default(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        load_state(path)
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(2)}, plain)
    assert torch.equal(load_state(plain)["w"], torch.ones(2))
