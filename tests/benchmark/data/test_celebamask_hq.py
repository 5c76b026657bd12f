"""CelebAMask-HQ adapter on a tiny fixture in the distribution's exact layout: part masks merged into the 15 classes
in the reference's painting order, the CelebA partition from the mapping file, the suite's shard format, and one line
naming where to put and get the data when it is missing."""

import numpy as np
import pytest
from PIL import Image

from benchmark.data import celebamask_hq as chq
from benchmark.data import shards

# CelebA-HQ index -> original CelebA file number: 0, 2 in the train part, 1 val, 3 and 2001 test.
MAPPING = {0: 119613, 1: 170000, 2: 2000, 3: 190000, 2001: 200000}


def _part(root, index, part, box):
    """A 512x512 binary part mask (0 / 255, greyscale as distributed) with the rectangle box = (y0, y1, x0, x1)."""
    mask = np.zeros((512, 512), dtype=np.uint8)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 255
    path = chq.part_path(root, index, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)


@pytest.fixture
def celebamask(tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    (root / chq.IMAGES).mkdir(parents=True)
    lines = ["idx         orig_idx    orig_file"]
    for index, number in MAPPING.items():
        lines.append(f"{index}           {number - 1}      {number}.jpg")
        colour = np.full((64, 64, 3), 40 * (index % 6), dtype=np.uint8)
        Image.fromarray(colour).save(root / chq.IMAGES / f"{index}.jpg", quality=95)
        _part(root, index, "skin", (0, 512, 0, 512))
        _part(root, index, "hair", (0, 256, 0, 512))      # over skin: hair (10) is painted after skin (1)
        _part(root, index, "l_eye", (300, 320, 100, 150))  # eye (4)
        _part(root, index, "r_eye", (300, 320, 350, 400))
        _part(root, index, "neck_l", (480, 512, 0, 64))    # neck (13) over skin
        _part(root, index, "cloth", (496, 512, 0, 512))    # cloth (14) over neck
    (root / chq.MAPPING).write_text("\n".join(lines) + "\n")
    return root


def test_parts_merge_into_the_15_classes_in_painting_order(celebamask):
    assert chq.CLASSES == ("background", "skin", "nose", "eye_g", "eye", "brow", "ear", "mouth", "u_lip", "l_lip",
                           "hair", "hat", "ear_r", "neck", "cloth")
    label = chq.merge_parts(celebamask, 2001)  # its masks live in folder 1 (2001 // 2000)
    assert chq.part_path(celebamask, 2001, "skin").parent.name == "1"
    assert label.shape == (512, 512)
    assert label[100, 100] == 10 and label[400, 200] == 1 and label[310, 120] == 4 and label[310, 370] == 4
    assert label[490, 10] == 13 and label[500, 10] == 14 and label[500, 300] == 14
    assert set(np.unique(label)) == {1, 4, 10, 13, 14}


def test_splits_follow_the_celeba_partition(celebamask):
    splits = {s.index: s.split for s in chq.read_samples(celebamask)}
    assert splits == {0: "train", 1: "val", 2: "train", 3: "test", 2001: "test"}
    assert chq.split_of(162770) == "train" and chq.split_of(162771) == "val" and chq.split_of(182638) == "test"


def test_convert_writes_the_suite_format(celebamask, tmp_path):
    out = tmp_path / "dataset"
    manifest = chq.convert(celebamask, out, resolution=16, splits=("train", "test"), shard_size=1)
    assert manifest["classes"] == list(chq.CLASSES) and len(manifest["palette"]) == 15
    assert manifest["splits"]["test"]["celeba_hq_indices"] == [3, 2001]
    images = shards.read_split(out, "test", "images")
    masks = shards.read_split(out, "test", "masks", n_ids=15)
    assert images.shape == (2, 16, 16, 3) and masks.shape == (2, 16, 16)
    assert masks[0, 2, 8] == 10 and masks[0, 12, 8] == 1  # hair on top, skin below (nearest resampling)
    assert abs(int(images[1].mean()) - 40 * (2001 % 6)) <= 2  # image 2001, not image 1
    assert shards.read_split(out, "train", "images").shape[0] == 2 and (out / "preview.png").is_file()


def test_missing_data_is_one_line_naming_where_to_get_it(tmp_path, capsys, one_line_error):
    capsys.readouterr()
    code = chq.main(["--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--resolution", "16"])
    assert code == 2
    one_line_error("CelebAMask-HQ not found", "nowhere/CelebA-HQ-img", "github.com/switchablenorms/CelebAMask-HQ")
    assert not (tmp_path / "out").exists()


def test_a_corrupt_part_mask_is_named(celebamask, tmp_path):
    chq.part_path(celebamask, 3, "hair").write_bytes(b"not a png")
    with pytest.raises(shards.DatasetError, match="00003_hair.png: not a readable PNG"):
        chq.convert(celebamask, tmp_path / "out", resolution=16, splits=("test",))
    assert not (tmp_path / "out").exists()


def test_the_ufs_metric_reads_it_as_a_world_test_split(celebamask, tmp_path):
    """What the ufs stage reads from `--world` (the test split's masks, the manifest's classes) and its metric: the
    paper's foreground mIoU over the 14 non-background classes."""
    from klish.metrics.segmentation import segmentation_scores

    out = tmp_path / "dataset"
    chq.convert(celebamask, out, resolution=16, splits=("test",))
    truth = shards.read_split(out, "test", "masks", n_ids=15)
    classes = shards.load_manifest(out)["classes"]
    scores = segmentation_scores(truth, truth.copy(), classes, "miou_real")
    assert scores["miou_real_fg"] == 1.0 and len(scores["miou_real_fg_iou"]) == 14
    assert "background" not in scores["miou_real_fg_iou"]
    present = {classes[i] for i in np.unique(truth) if i}  # at 16 px the thin neck strip is gone
    assert {k for k, v in scores["miou_real_fg_iou"].items() if v is not None} == present >= {"skin", "hair", "cloth"}
