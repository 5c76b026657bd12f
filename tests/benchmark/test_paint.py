"""Paint a label map with a saved mask-to-image generator; bad masks are one clear line."""

import numpy as np
import torch
from PIL import Image

from benchmark import paint
from benchmark.tasks.uscs import SPADEGenerator, save_generator


def _generator(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "gen" / "generator.safetensors"
    save_generator(path, SPADEGenerator(n_classes=3, resolution=16, width=4, z_dim=4).eval(), {"method": "test"})
    return path


def test_paint_a_label_map(tmp_path):
    path = _generator(tmp_path)
    labels = np.zeros((32, 32), np.uint8)
    labels[16:] = 1
    labels[:, :8] = 2
    Image.fromarray(labels).save(tmp_path / "mask.png")
    Image.fromarray(np.repeat(labels[..., None], 3, axis=2)).save(tmp_path / "mask_rgb.png")
    assert paint.main(["--generator", str(path), "--mask", str(tmp_path / "mask.png"), "--out",
                       str(tmp_path / "out.png"), "--n", "3"]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (1 + 128 + 1, 4 * (128 + 1) + 1, 3)  # the mask and 3 paintings, upscaled to 128
    assert paint.main(["--generator", str(path), "--mask", str(tmp_path / "mask_rgb.png"), "--out",
                       str(tmp_path / "out_rgb.png"), "--n", "3"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out_rgb.png")), out)  # same ids, same seed: same images
    assert paint.read_label_map(tmp_path / "mask.png", 16, 3)[15].tolist() == [2] * 4 + [1] * 12


def test_bad_masks_are_one_line(tmp_path, one_line_error):
    path = _generator(tmp_path)
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(tmp_path / "k7.png")
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    for mask, message in (("k7.png", "k7.png: mask id 7 outside the network's 3 clusters (0..2)"),
                          ("colour.png", "colour.png: a colour image, not a label map"),
                          ("junk.png", "junk.png: not a readable image"),
                          ("none.png", "none.png: mask file not found")):
        assert paint.main(["--generator", str(path), "--mask", str(tmp_path / mask), "--out",
                           str(tmp_path / "o.png")]) == 2
        one_line_error(message)
        assert not (tmp_path / "o.png").exists()
    assert paint.main(["--generator", str(tmp_path / "nope.safetensors"), "--mask", str(tmp_path / "k7.png"),
                       "--out", str(tmp_path / "o.png")]) == 2
    one_line_error("nope.safetensors: USCS generator file not found")
