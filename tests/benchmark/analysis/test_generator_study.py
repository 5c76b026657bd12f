import shutil

import pandas as pd
import pytest

from benchmark.analysis import generator_study
from benchmark.params import load_section

TINY = ["render_world.n_train=48", "render_world.n_test=8", "render_world.workers=1",
        "train_parser.epochs=1", "train_parser.batch_size=16", "train_parser.depth=2", "train_gan.width=4",
        "train_gan.steps=4", "train_gan.batch_size=8", "train_gan.log_every=2", "train_gan.bn_batches=1",
        "extract_features.n_samples=3", "eval_samples.n_samples=3"]


@pytest.fixture
def quick_params(repo, tmp_path, monkeypatch):
    shutil.copy(repo / "profiles" / "quick.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_snapshots_are_scored_with_every_variant_and_the_world_is_reused(quick_params):
    out = quick_params / "study"
    argv = ["--domain", "car", "--set", *TINY, "render_world.appearance=random", "--snapshots", "2",
            "--k", "3", "4", "--cluster-seeds", "2", "--work", str(quick_params / "work"), "--out", str(out)]
    assert generator_study.main(argv) == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    assert sorted(table["step"].unique()) == [2, 4]
    klish = f"Crel=2000+k0={load_section('cluster').n_init_clusters}"
    assert table.groupby("variant")["seed_index"].nunique().to_dict() == {
        "rgb": 2, "rgb_xy": 2, "probe": 1, "kmeans": 2, klish: 2}
    assert (table["train_minutes"] >= 0).all() and table["miou_pseudo"].between(0, 1).all()
    assert out.with_suffix(".png").stat().st_size > 0
    manifest = (quick_params / "work" / "world" / "manifest.json").read_text()
    assert '"appearance": "random"' in manifest
    stamps = [(quick_params / "work" / name).stat().st_mtime_ns
              for name in ("world/manifest.json", "parser/parser.safetensors")]
    assert generator_study.main(argv) == 0  # same settings: the world and the parser are reused
    assert [(quick_params / "work" / name).stat().st_mtime_ns
            for name in ("world/manifest.json", "parser/parser.safetensors")] == stamps
    assert pd.read_csv(out.with_suffix(".csv"))[["ari_pseudo", "miou_pseudo"]].equals(
        table[["ari_pseudo", "miou_pseudo"]])  # same seeds, same numbers


def test_overrides_are_typed_and_checked(quick_params):
    sections = {name: load_section(name) for name in ("render_world", "train_gan")}
    out = generator_study.apply_overrides(sections, ["train_gan.lr=1", "render_world.resolution=64"])
    assert out["train_gan"].lr == 1.0 and out["render_world"].resolution == 64
    with pytest.raises(SystemExit, match="has no key 'colour'"):
        generator_study.apply_overrides(sections, ["render_world.colour=red"])
    with pytest.raises(SystemExit, match="must be int"):
        generator_study.apply_overrides(sections, ["train_gan.steps=many"])
    with pytest.raises(SystemExit, match="render_world.appearance"):
        generator_study.apply_overrides(sections, ["render_world.appearance=pastel"])


def test_a_given_world_with_render_overrides_is_refused(quick_params):
    with pytest.raises(SystemExit, match="render_world overrides would be ignored"):
        generator_study.main(["--domain", "car", "--set", "render_world.appearance=random", "--world",
                              str(quick_params), "--work", str(quick_params / "w"), "--out", str(quick_params / "o")])
