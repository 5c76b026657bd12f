"""Bad input gets one clear line on stderr and exit code 2, and nothing half-written."""

import json
import shutil

import numpy as np
import pytest
import yaml

from benchmark.data.shards import read_split
from benchmark.stages import (
    cluster,
    cluster_references,
    evaluate_clustering,
    extract_features,
    make_dataset,
    render_world,
    sample_eval,
    train_gan,
    train_parser,
    ufs,
    ufs_supervised,
)
from klish.extractor import load_extractors


@pytest.fixture
def workdir(tmp_path, monkeypatch, repo):
    raw = yaml.safe_load((repo / "profiles" / "quick.yaml").read_text())
    raw["render_world"].update(n_train=40, n_test=8, shard_size=16, workers=1)
    raw["train_gan"].update(steps=2, batch_size=8, width=4, bn_batches=1, log_every=1, grid_size=4)
    raw["extract_features"].update(n_samples=3, batch_size=2)
    raw["train_parser"].update(width=4, depth=2, epochs=1, batch_size=8)
    raw["cluster"].update(n_init_clusters=10, k_values=[3, 4], preview_k=4, ahc_subsample=200, seeds=[0, 1],
                          methods=["klish", "kmeans", "kmeans_arccos", "ahc_ward", "ahc_cosine", "kasp"])
    raw["eval_samples"].update(n_samples=4, batch_size=3)
    raw["evaluate_clustering"].update(k_max=6, report_k=[3, 4])
    raw["make_dataset"].update(methods=["klish", "kmeans"], select_k={"face": 4, "car": 4, "animal": 4},
                               auto_k_range=[3, 8], n_samples=5, batch_size=2, shard_size=3)
    raw["ufs"].update(methods=["klish", "kmeans"], width=4, depth=2, epochs=1, batch_size=4)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unknown_domain(workdir, one_line_error):
    rc = render_world.main(["--domain", "horse", "--out", "w/horse", "--metrics", "m.json"])
    assert rc == 2
    one_line_error("unknown domain 'horse': expected one of face, car, animal")
    assert not (workdir / "w").exists() and not (workdir / "m.json").exists()


def test_unknown_params_key(workdir, one_line_error):
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["train_gan"]["learning_rate"] = 0.1
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    rc = train_gan.main(["--domain", "face", "--data", "w", "--out", "g", "--results", "r"])
    assert rc == 2
    one_line_error("params.yaml: unknown key train_gan.learning_rate")


def test_pipeline_of_three_stages_and_its_failure_modes(workdir, capsys, one_line_error):
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
    one_line_error("bad/generator.safetensors: sha256 mismatch")
    assert not (workdir / "f2").exists()

    # A missing dataset shard: one line, and no checkpoint written.
    (workdir / "w" / "animal" / "train" / "images-00001.npz").unlink()
    rc = train_gan.main(["--domain", "animal", "--data", "w/animal", "--out", "g2", "--results", "r/g2"])
    assert rc == 2
    one_line_error("images-00001.npz: shard listed in manifest.json is missing")
    assert not (workdir / "g2").exists()


def test_clustering_stages_and_their_failure_modes(workdir, capsys, one_line_error):
    assert render_world.main(["--domain", "face", "--out", "w", "--metrics", "r/w.json"]) == 0
    assert train_gan.main(["--domain", "face", "--data", "w", "--out", "g", "--results", "r/g"]) == 0
    assert extract_features.main(["--domain", "face", "--checkpoint", "g/generator.safetensors", "--out", "f",
                                  "--results", "r/f"]) == 0
    assert train_parser.main(["--domain", "face", "--data", "w", "--out", "p", "--results", "r/p"]) == 0
    parser_metrics = json.loads((workdir / "r/p/metrics.json").read_text())
    assert 0 <= parser_metrics["miou_real"] <= 1 and set(parser_metrics["miou_real_iou"]) >= {"background", "skin"}
    assert sample_eval.main(["--domain", "face", "--checkpoint", "g/generator.safetensors", "--features", "f",
                             "--parser", "p/parser.safetensors", "--out", "e", "--results", "r/e"]) == 0
    assert np.load(workdir / "e/pseudo_gt.npy").shape == (4, 32, 32)
    # reference rows: the colour floors with every seed at the baselines' K, the probe once at the class count (10)
    assert cluster_references.main(["--domain", "face", "--features", "f", "--eval", "e", "--parser",
                                    "p/parser.safetensors", "--out", "refs", "--results", "r/refs"]) == 0
    for method in ("rgb", "rgb_xy"):
        floor = json.loads((workdir / f"r/refs/{method}.json").read_text())
        assert set(floor) == {"s0", "s1"} and set(floor["s0"]["miou_pseudo"]) == {"k3", "k4"}
        assert floor["s0"]["reference"] == "floor"
        assert (workdir / f"r/refs/curves/{method}_s1.csv").read_text().startswith("k,ari_pseudo")
    assert load_extractors(workdir / "refs/rgb_xy/s0/extractors.safetensors")[4].coef.shape == (4, 5)
    probe = json.loads((workdir / "r/refs/probe.json").read_text())
    assert set(probe) == {"s0"} and set(probe["s0"]["miou_pseudo"]) == {"k10"}
    assert 0 <= probe["s0"]["miou_pseudo"]["k10"] <= 1 and probe["s0"]["reference"] == "ceiling"
    assert load_extractors(workdir / "refs/probe/s0/extractors.safetensors")[10].coef.shape[0] == 10
    assert (workdir / "r/refs/masks.png").is_file()
    shutil.copytree(workdir / "e", workdir / "e16")  # pseudo ground truth at another resolution than the images
    np.save(workdir / "e16/pseudo_gt.npy", np.zeros((4, 16, 16), np.uint8))
    capsys.readouterr()
    assert cluster_references.main(["--domain", "face", "--features", "f", "--eval", "e16", "--parser",
                                    "p/parser.safetensors", "--out", "refs2", "--results", "r/refs2"]) == 2
    one_line_error("e16/pseudo_gt.npy: masks are 16px but the evaluation images 32px")
    assert not (workdir / "refs2").exists() and not (workdir / "r/refs2").exists()
    for method in ("klish", "kmeans", "kmeans_arccos", "ahc_ward", "ahc_cosine", "kasp"):
        # one stage fits every seed of cluster.seeds; evaluate_clustering scores every seed it finds
        assert cluster.main(["--domain", "face", "--method", method, "--features", "f", "--out", f"c/{method}",
                             "--results", f"r/c/{method}", "--metrics", f"r/c/{method}.json"]) == 0
        fits = json.loads((workdir / f"r/c/{method}.json").read_text())
        assert set(fits) == {"s0", "s1"} and fits["s0"]["seed"] + 1 == fits["s1"]["seed"]
        for seed in ("s0", "s1"):
            assert {3, 4} <= set(load_extractors(workdir / f"c/{method}/{seed}/extractors.safetensors"))
            assert (workdir / f"r/c/{method}/{seed}/masks.png").is_file()
        assert evaluate_clustering.main(["--domain", "face", "--method", method, "--eval", "e", "--clustering",
                                         f"c/{method}", "--results", f"r/ev/{method}",
                                         "--metrics", f"r/ev/{method}.json"]) == 0
        metrics = json.loads((workdir / f"r/ev/{method}.json").read_text())
        assert set(metrics) == {"s0", "s1"} and metrics["s1"]["seed"] == fits["s1"]["seed"]
        assert set(metrics["s0"]["miou_pseudo"]) == {"k3", "k4"} and -1 <= metrics["s0"]["ari_pseudo"]["k3"] <= 1
        assert (workdir / f"r/ev/{method}/s1/curves.csv").read_text().startswith("k,ari_pseudo")
    history = json.loads((workdir / "c/klish/s0/model.json").read_text())["merges"]
    assert [m["k"] for m in history] == list(range(10, 1, -1))
    assert (workdir / "r/c/klish/s1/merges.csv").read_text().startswith("k,delete_metric,merge_metric")
    capsys.readouterr()

    for method in ("klish", "kmeans"):
        assert make_dataset.main(["--domain", "face", "--method", method, "--seed", "0", "--checkpoint",
                                  "g/generator.safetensors", "--features", "f", "--clustering", f"c/{method}/s0",
                                  "--out", f"d/{method}", "--results", f"r/d/{method}"]) == 0
        manifest = json.loads((workdir / f"d/{method}/manifest.json").read_text())
        assert manifest["n_clusters"] == 4 and manifest["splits"]["train"]["n"] == 5
        assert len(manifest["splits"]["train"]["shards"]["masks"]) == 2  # shards of 3 + 2
        masks = read_split(workdir / f"d/{method}", "train", "masks")
        images = read_split(workdir / f"d/{method}", "train", "images")
        assert masks.shape == (5, 32, 32) and images.shape == (5, 32, 32, 3) and masks.max() < 4
        assert "sha256" in (workdir / f"d/{method}/README.md").read_text()
        assert (workdir / f"r/d/{method}/preview.png").is_file()
    # KLiSH reports its automatic K beside the manual one; K-means has none
    assert 3 <= json.loads((workdir / "r/d/klish/metrics.json").read_text())["auto_k"] <= 8
    assert json.loads((workdir / "r/d/kmeans/metrics.json").read_text())["auto_k"] is None
    capsys.readouterr()

    # UFS on the KLiSH dataset, and the supervised upper bound through the same network
    assert ufs.main(["--domain", "face", "--method", "klish", "--seed", "0", "--data", "d/klish", "--world", "w",
                     "--eval", "e", "--out", "u/klish", "--results", "r/u/klish"]) == 0
    metrics = json.loads((workdir / "r/u/klish/metrics.json").read_text())
    for key in ("miou_real", "miou_real_fg", "miou_real_oracle", "miou_real_oracle_fg"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["k"] == 4 and len(metrics["mapping_generated"]) == 4
    assert (workdir / "u/klish/network.safetensors").is_file()
    assert (workdir / "r/u/klish/losses.csv").read_text().startswith("step,loss")
    assert ufs_supervised.main(["--domain", "face", "--world", "w", "--out", "u/sup", "--results", "r/u/sup"]) == 0
    assert 0 <= json.loads((workdir / "r/u/sup/metrics.json").read_text())["miou_real_fg"] <= 1
    capsys.readouterr()

    # a synthetic mask with an id outside its K clusters: one line naming the shard, nothing written
    bad = workdir / "d/bad"
    shutil.copytree(workdir / "d/klish", bad)
    shard = bad / "train" / "masks-00001.npz"
    masks = np.load(shard)["data"]
    masks[0, 0, 0] = 9
    np.savez_compressed(shard, data=masks)
    rc = ufs.main(["--domain", "face", "--method", "klish", "--seed", "0", "--data", "d/bad", "--world", "w",
                   "--eval", "e", "--out", "u/bad", "--results", "r/u/bad"])
    assert rc == 2
    one_line_error("masks-00001.npz: mask id 9 outside the 4 declared ids")
    assert not (workdir / "u/bad").exists() and not (workdir / "r/u/bad").exists()

    # an empty (zero-byte) shard: one line naming it
    shard.write_bytes(b"")
    rc = ufs.main(["--domain", "face", "--method", "klish", "--seed", "0", "--data", "d/bad", "--world", "w",
                   "--eval", "e", "--out", "u/bad", "--results", "r/u/bad"])
    assert rc == 2
    one_line_error("masks-00001.npz: corrupt shard")
    assert not (workdir / "u/bad").exists()

    # a K the clustering did not record: one line naming the file and the recorded K, nothing written
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["make_dataset"]["select_k"]["face"] = 7
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    rc = make_dataset.main(["--domain", "face", "--method", "kmeans", "--seed", "0", "--checkpoint",
                            "g/generator.safetensors", "--features", "f", "--clustering", "c/kmeans/s0",
                            "--out", "d/x", "--results", "r/d/x"])
    assert rc == 2
    one_line_error("c/kmeans/s0/extractors.safetensors: K=7", "has K in [3, 4]")
    assert not (workdir / "d/x").exists() and not (workdir / "r/d/x").exists()

    # a clustering fit on another generator's features: one line, nothing written
    raw["make_dataset"]["select_k"]["face"] = 4
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    model = json.loads((workdir / "c/kmeans/s0/model.json").read_text())
    (workdir / "c/kmeans/s0/model.json").write_text(json.dumps({**model, "generator_sha256": "0" * 64}))
    rc = make_dataset.main(["--domain", "face", "--method", "kmeans", "--seed", "0", "--checkpoint",
                            "g/generator.safetensors", "--features", "f", "--clustering", "c/kmeans/s0",
                            "--out", "d/x", "--results", "r/d/x"])
    assert rc == 2
    one_line_error("g/generator.safetensors: not the generator the clustering c/kmeans/s0 was fit on")
    assert not (workdir / "d/x").exists()

    # a method that params.yaml does not list: one line, nothing written
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["cluster"]["methods"] = ["klish"]
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    rc = cluster.main(["--domain", "face", "--method", "kmeans", "--features", "f", "--out", "c/y",
                       "--results", "r/c/y", "--metrics", "r/c/y.json"])
    assert rc == 2
    one_line_error("method 'kmeans' is not in cluster.methods")
    assert not (workdir / "c/y").exists() and not (workdir / "r/c/y.json").exists()

    # a clustering folder without any s<seed> fit: one line naming it
    (workdir / "c/empty").mkdir()
    rc = evaluate_clustering.main(["--domain", "face", "--method", "kmeans", "--eval", "e", "--clustering",
                                   "c/empty", "--results", "r/ev/e", "--metrics", "r/ev/e.json"])
    assert rc == 2
    one_line_error("c/empty: no s<seed> clustering folders")
    assert not (workdir / "r/ev/e").exists() and not (workdir / "r/ev/e.json").exists()

    # evaluation samples without their pseudo ground truth
    (workdir / "e/pseudo_gt.npy").unlink()
    rc = evaluate_clustering.main(["--domain", "face", "--method", "kmeans", "--eval", "e",
                                   "--clustering", "c/kmeans", "--results", "r/ev/x", "--metrics", "r/ev/x.json"])
    assert rc == 2
    one_line_error("pseudo_gt.npy: pseudo ground truth not found")
    assert not (workdir / "r/ev/x").exists()
