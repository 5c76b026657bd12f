"""The recognition probe's stages on the bundled digits, at toy sizes: data, both GANs, every feature type."""

import json

import pytest
import yaml

from benchmark.params import PROBE_FEATURES
from benchmark.stages import probe, recognition_data, train_feature_gan


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["recognition"].update(max_train_images=300, z_dim=8, width=4, steps=3, batch_size=16, log_every=1,
                              fashion_mnist_path=str(tmp_path / "no-fashion"))
    raw["probe"].update(label_fractions=[0.1, 1.0], svm_C=[1.0, 10.0], realfake_directions=2, realfake_samples=40,
                        supervised_steps=3, batch_size=16, svm_max_iter=200)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_digits_through_every_feature_type(workdir, isolated_mlflow, capsys, one_line_error):
    assert recognition_data.main(["--dataset", "digits", "--out", "data", "--results", "res/data"]) == 0
    manifest = json.loads((workdir / "data/manifest.json").read_text())
    assert manifest["n_train"] == 300 and manifest["resolution"] == 16 and (workdir / "res/data/preview.png").is_file()
    # the probe needs the GANs first: one line, nothing written
    capsys.readouterr()
    assert probe.main(["--dataset", "digits", "--features", "discriminator", "--data", "data", "--gans", "gans",
                       "--metrics", "res/probe/discriminator.json"]) == 2
    one_line_error("discriminator.safetensors: checkpoint not found (run the train_feature_gan")
    assert not (workdir / "res/probe").exists()
    for model in ("dcgan", "bigan"):
        assert train_feature_gan.main(["--dataset", "digits", "--model", model, "--data", "data",
                                       "--out", f"gans/{model}", "--results", f"res/gan/{model}"]) == 0
    assert {p.name for p in (workdir / "gans/dcgan").glob("*.safetensors")} == {
        "generator.safetensors", "discriminator.safetensors", "discriminator_init.safetensors"}
    assert (workdir / "res/gan/bigan/reconstructions.png").is_file()
    for features in PROBE_FEATURES:
        assert probe.main(["--dataset", "digits", "--features", features, "--data", "data", "--gans", "gans",
                           "--metrics", f"res/probe/{features}.json"]) == 0, capsys.readouterr().err
        metrics = json.loads((workdir / f"res/probe/{features}.json").read_text())
        for key in ("labels_10pct", "labels_100pct"):
            assert 0 <= metrics[f"accuracy_{key}"] <= 1
        assert metrics["n_labels_labels_100pct"] == 300 and metrics["n_labels_labels_10pct"] == 30
    realfake = json.loads((workdir / "res/probe/discriminator_minus_realfake.json").read_text())
    assert realfake["realfake_separability_after"] <= realfake["realfake_separability_before"]
    latent = json.loads((workdir / "res/probe/bigan_latent.json").read_text())
    assert latent["dims"] == 8
    again = json.loads((workdir / "res/probe/pixels.json").read_text())
    assert probe.main(["--dataset", "digits", "--features", "pixels", "--data", "data", "--gans", "gans",
                       "--metrics", "res/probe/pixels.json"]) == 0
    assert json.loads((workdir / "res/probe/pixels.json").read_text())["accuracy_labels_100pct"] == \
        again["accuracy_labels_100pct"]


def test_missing_fashion_mnist_and_broken_data_are_one_line(workdir, one_line_error):
    assert recognition_data.main(["--dataset", "fashion_mnist", "--out", "data", "--results", "res"]) == 2
    one_line_error("no-fashion: Fashion-MNIST not found", "make fashion-mnist")
    assert not (workdir / "data").exists()
    (workdir / "broken").mkdir()
    (workdir / "broken/manifest.json").write_text('{"format": "klish-recognition/1"}')
    assert train_feature_gan.main(["--dataset", "digits", "--model", "dcgan", "--data", "broken", "--out", "gan",
                                   "--results", "res"]) == 2
    one_line_error("data.npz: file not found")
    assert not (workdir / "gan").exists()
