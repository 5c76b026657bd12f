import json

import numpy as np
import pytest

from benchmark.data import shards
from benchmark.data.world import render_sample
from benchmark.data.world.render import render_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "face"
    render_world("face", out, seed=5, resolution=32, n_train=10, n_test=6, shard_size=4, workers=1)
    return out


def test_layout_manifest_card_preview(world):
    manifest = json.loads((world / "manifest.json").read_text())
    assert manifest["splits"]["train"]["shards"]["images"] == ["images-00000.npz", "images-00001.npz",
                                                                "images-00002.npz"]
    assert manifest["classes"][0] == "background" and len(manifest["palette"]) == len(manifest["classes"])
    card = (world / "README.md").read_text()
    assert "| 9 | cloth |" in card and "seed=5" in card and "Appearance: consistent" in card
    assert manifest["appearance"] == "consistent"
    assert (world / "preview.png").stat().st_size > 0
    assert not list(world.parent.glob(".*tmp"))  # nothing half-written left behind


def test_shards_round_trip_to_the_renderer(world):
    images = shards.read_split(world, "train", "images")
    masks = shards.read_split(world, "train", "masks")
    assert images.shape == (10, 32, 32, 3) and masks.shape == (10, 32, 32)
    for i in (0, 5, 9):
        image, mask = render_sample("face", 5, "train", i, 32)
        assert np.array_equal(images[i], image) and np.array_equal(masks[i], mask)


def test_worker_count_does_not_change_bytes(world, tmp_path):
    out = tmp_path / "face"
    render_world("face", out, seed=5, resolution=32, n_train=10, n_test=6, shard_size=4, workers=2)
    for split in ("train", "test"):
        for part in ("images", "masks"):
            assert np.array_equal(shards.read_split(out, split, part), shards.read_split(world, split, part))


def test_missing_shard_is_one_clear_error(world, tmp_path):
    copy = tmp_path / "face"
    copy.mkdir()
    (copy / "manifest.json").write_text((world / "manifest.json").read_text())
    with pytest.raises(shards.DatasetError, match=r"test/images-00000\.npz: shard listed in manifest\.json is missing"):
        shards.read_split(copy, "test", "images")


def test_corrupt_shard_is_one_clear_error(world, tmp_path):
    import shutil

    copy = tmp_path / "face"
    shutil.copytree(world, copy)
    target = copy / "train" / "images-00001.npz"
    target.write_bytes(target.read_bytes()[:50])
    with pytest.raises(shards.DatasetError, match="images-00001.npz: corrupt shard"):
        shards.read_split(copy, "train", "images")


def test_missing_manifest(tmp_path):
    with pytest.raises(shards.DatasetError, match="manifest not found"):
        shards.read_split(tmp_path, "train")
