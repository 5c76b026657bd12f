"""The FID and USCS stages at toy sizes, with the real Inception: reference features, the GAN row, a mask-to-image
network from synthetic pairs and the supervised bound, and their one-line errors."""

import json

import numpy as np
import pytest
import yaml

from benchmark.data import shards
from benchmark.stages import fid_reference, gan_fid, render_world, train_gan, uscs, uscs_supervised
from benchmark.tasks.ufs import build_network, save_network
from benchmark.tasks.uscs import load_generator
from klish.visualize import cluster_palette

K = 4
N_FID = 6


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["render_world"].update(n_train=24, n_test=8, shard_size=16, workers=1)
    raw["train_gan"].update(steps=2, batch_size=8, width=4, bn_batches=1, log_every=1, grid_size=4)
    raw["fid"].update(n_samples=N_FID, batch_size=4)
    raw["uscs"].update(methods=["klish"], width=4, z_dim=4, steps=3, batch_size=4, log_every=1, preview=3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _synthetic_dataset(root, images, k=K, seed=0):
    """A synthetic dataset in the make_dataset layout: the given images with random k-cluster masks."""
    masks = np.random.default_rng(seed).integers(0, k, images.shape[:3]).astype(np.uint8)
    writer = shards.ShardWriter(root, "train", 8)
    writer.add(images, masks)
    manifest = {"splits": {"train": writer.close()}, "n_clusters": k, "palette": [list(c) for c in cluster_palette(k)],
                "classes": [f"cluster {i}" for i in range(k)]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def _ufs_network(folder, n_out):
    save_network(folder / "network.safetensors", build_network("unet", n_out, 4, 2), "unet", {"method": "test"})


def test_fid_and_uscs_stages_end_to_end(workdir, capsys, one_line_error):
    assert render_world.main(["--domain", "face", "--out", "w", "--metrics", "r/w.json"]) == 0
    assert train_gan.main(["--domain", "face", "--data", "w", "--out", "g", "--results", "r/g"]) == 0
    # the USCS stage needs the reference features first: one line naming them, nothing written
    _synthetic_dataset(workdir / "d", shards.read_split(workdir / "w", "train", "images")[:16])
    _ufs_network(workdir / "u", K)
    cmd = ["--domain", "face", "--method", "klish", "--seed", "0", "--data", "d", "--world", "w", "--ufs", "u",
           "--reference", "ref", "--out", "m", "--results", "r/m"]
    capsys.readouterr()
    assert uscs.main(cmd) == 2
    one_line_error("ref/test.npy: FID reference features not found (run the fid_reference stage first)")
    assert not (workdir / "m").exists() and not (workdir / "r/m").exists()

    assert fid_reference.main(["--domain", "face", "--world", "w", "--out", "ref", "--results", "r/ref"]) == 0
    test_features = np.load(workdir / "ref/test.npy")
    assert test_features.shape == (N_FID, 2048) and np.load(workdir / "ref/train.npy").shape == (N_FID, 2048)
    assert json.loads((workdir / "ref/test.json").read_text())["extractor_sha256"].startswith("7ff4a85c")
    floor = json.loads((workdir / "r/ref/metrics.json").read_text())
    assert floor["fid_inception_6v6"] > 0 and np.isfinite(floor["kid_inception_6v6"])

    assert gan_fid.main(["--domain", "face", "--checkpoint", "g/generator.safetensors", "--reference", "ref",
                         "--results", "r/gan"]) == 0
    gan = json.loads((workdir / "r/gan/metrics.json").read_text())
    assert {"fid_inception_6v6", "kid_inception_6v6", "fid_inception_6v6_train", "kid_inception_6v6_train"} <= set(gan)
    # an untrained 2-step GAN is much further from real images than real images are from each other
    assert gan["fid_inception_6v6"] > floor["fid_inception_6v6"]

    assert uscs.main(cmd) == 0, capsys.readouterr().err
    metrics = json.loads((workdir / "r/m/metrics.json").read_text())
    assert metrics["fid_inception_6v6"] > 0 and 0 <= metrics["mask_consistency_miou"] <= 1
    assert metrics["k"] == K and metrics["n_train"] == 16 and metrics["n_eval"] == N_FID
    assert (workdir / "r/m/losses.csv").read_text().splitlines()[0] == "step,d_loss,g_loss"
    assert (workdir / "r/m/triplets.png").is_file()
    generator, sidecar = load_generator(workdir / "m/generator.safetensors")
    assert generator.n_classes == K and sidecar["method"] == "klish"
    first = metrics["fid_inception_6v6"]
    assert uscs.main(cmd) == 0  # same seed, same params: same numbers
    assert json.loads((workdir / "r/m/metrics.json").read_text())["fid_inception_6v6"] == first

    _ufs_network(workdir / "usup", 10)  # the face world's 10 classes
    assert uscs_supervised.main(["--domain", "face", "--world", "w", "--ufs", "usup", "--reference", "ref",
                                 "--out", "msup", "--results", "r/msup"]) == 0
    supervised = json.loads((workdir / "r/msup/metrics.json").read_text())
    assert supervised["k"] == 10 and supervised["n_train"] == 24 and "kid_inception_6v6" in supervised
    capsys.readouterr()

    # a UFS network whose outputs do not match the masks' K: one line, nothing written
    assert uscs.main([*cmd[:-6], "--ufs", "usup", "--reference", "ref", "--out", "m2", "--results", "r/m2"]) == 2
    one_line_error("usup/network.safetensors: the UFS network has 10 outputs but the masks have K=4")
    assert not (workdir / "m2").exists() and not (workdir / "r/m2").exists()


def test_wrong_extractor_hash_and_grey_images_are_one_line(workdir, capsys, one_line_error):
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["fid"]["inception_path"] = str(workdir / "my_inception.pt")
    (workdir / "my_inception.pt").write_bytes(b"\x00" * 100)
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    assert render_world.main(["--domain", "car", "--out", "w", "--metrics", "r/w.json"]) == 0
    capsys.readouterr()
    assert fid_reference.main(["--domain", "car", "--world", "w", "--out", "ref", "--results", "r/ref"]) == 2
    one_line_error("my_inception.pt: sha256", "is not the FID Inception's")
    assert not (workdir / "ref").exists() and not (workdir / "r/ref").exists()

    raw["fid"]["inception_path"] = "auto"
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    grey = workdir / "grey"
    writer = shards.ShardWriter(grey, "test", 8)
    writer.add(np.zeros((8, 32, 32, 1), np.uint8), np.zeros((8, 32, 32), np.uint8))
    (grey / "manifest.json").write_text(json.dumps({"splits": {"test": writer.close(), "train": {"n": 0, "shards": {
        "images": [], "masks": []}}}}))
    assert fid_reference.main(["--domain", "car", "--world", "grey", "--out", "ref", "--results", "r/ref"]) == 2
    one_line_error("grey test: FID needs RGB images [N, H, W, 3], got shape (6, 32, 32, 1)")
    assert not (workdir / "ref").exists()
