"""Bad input gets one clear line on stderr and exit code 2, and nothing half-written."""

import shutil

import pytest
import yaml

from benchmark.stages import extract_features, render_world, train_gan


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["render_world"].update(n_train=40, n_test=8, shard_size=16, workers=1)
    raw["train_gan"].update(steps=2, batch_size=8, width=4, bn_batches=1, log_every=1, grid_size=4)
    raw["extract_features"].update(n_samples=3, batch_size=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err[0]


def test_unknown_domain(workdir, capsys):
    rc = render_world.main(["--domain", "horse", "--out", "w/horse", "--metrics", "m.json"])
    assert rc == 2
    _one_line_error(capsys, "unknown domain 'horse': expected one of face, car, animal")
    assert not (workdir / "w").exists() and not (workdir / "m.json").exists()


def test_unknown_params_key(workdir, capsys):
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["train_gan"]["learning_rate"] = 0.1
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    rc = train_gan.main(["--domain", "face", "--data", "w", "--out", "g", "--results", "r"])
    assert rc == 2
    _one_line_error(capsys, "params.yaml: unknown key train_gan.learning_rate")


def test_pipeline_of_three_stages_and_its_failure_modes(workdir, capsys):
    assert render_world.main(["--domain", "animal", "--out", "w/animal", "--metrics", "r/w.json"]) == 0
    assert train_gan.main(["--domain", "animal", "--data", "w/animal", "--out", "g", "--results", "r/g"]) == 0
    for name in ("generator.safetensors", "generator.json", "discriminator.safetensors", "discriminator.json"):
        assert (workdir / "g" / name).is_file()
    for name in ("losses.csv", "samples.png", "metrics.json"):
        assert (workdir / "r" / "g" / name).is_file()
    assert extract_features.main(["--domain", "animal", "--checkpoint", "g/generator.safetensors", "--out", "f",
                                  "--results", "r/f"]) == 0
    assert (workdir / "f" / "features.npy").is_file() and (workdir / "r" / "f" / "pca.png").is_file()
    capsys.readouterr()

    # A truncated checkpoint: one line, and no feature store written.
    shutil.copytree(workdir / "g", workdir / "bad")
    weights = workdir / "bad" / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    rc = extract_features.main(["--domain", "animal", "--checkpoint", "bad/generator.safetensors", "--out", "f2",
                                "--results", "r/f2"])
    assert rc == 2
    _one_line_error(capsys, "bad/generator.safetensors: sha256 mismatch")
    assert not (workdir / "f2").exists()

    # A missing dataset shard: one line, and no checkpoint written.
    (workdir / "w" / "animal" / "train" / "images-00001.npz").unlink()
    rc = train_gan.main(["--domain", "animal", "--data", "w/animal", "--out", "g2", "--results", "r/g2"])
    assert rc == 2
    _one_line_error(capsys, "images-00001.npz: shard listed in manifest.json is missing")
    assert not (workdir / "g2").exists()
