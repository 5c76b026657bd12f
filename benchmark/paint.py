"""Paint a mask, get images: `python -m benchmark.paint --generator artifacts/uscs/face/klish/s0/generator.safetensors
--mask my_mask.png --out painted.png`. The mask is a label map PNG (greyscale or palette image whose values are
cluster ids, or RGB with three equal channels, the reference's format), resized to the network's resolution with
nearest neighbours; the output shows the colourised mask and `--n` painted images (one noise code each)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.cli import run
from benchmark.tasks.uscs import load_generator, synthesize
from klish.errors import ConfigError, KlishError
from klish.visualize import cluster_palette, colorize, image_grid, save_png


def read_label_map(path: Path, resolution: int, n_classes: int) -> np.ndarray:
    """A label map PNG as cluster ids [R, R]; ids outside 0..K-1 or a colour image are one-line errors."""
    if not path.is_file():
        raise KlishError(f"{path}: mask file not found")
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image.convert("RGB") if mode not in ("L", "P", "I", "I;16") else image)
    except (UnidentifiedImageError, OSError) as exc:
        raise KlishError(f"{path}: not a readable image ({exc})") from None
    if array.ndim == 3:
        if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
            raise ConfigError(f"{path}: a colour image, not a label map (use greyscale or palette values = cluster "
                              f"ids, or three equal channels)")
        array = array[..., 0]
    if int(array.max()) >= n_classes:
        raise ConfigError(f"{path}: mask id {int(array.max())} outside the network's {n_classes} clusters "
                          f"(0..{n_classes - 1})")
    resized = Image.fromarray(array.astype(np.uint8)).resize((resolution, resolution), Image.NEAREST)
    return np.asarray(resized, dtype=np.int64)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.paint", description=__doc__)
    parser.add_argument("--generator", required=True, type=Path, help="a USCS generator.safetensors (+ .json)")
    parser.add_argument("--mask", required=True, type=Path, help="label map PNG (values = cluster ids)")
    parser.add_argument("--out", required=True, type=Path, help="output PNG: the mask, then the painted images")
    parser.add_argument("--n", type=int, default=4, help="painted images (noise codes) for the one mask")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise codes")
    return parser


def _main(args: argparse.Namespace) -> None:
    generator, _ = load_generator(args.generator)
    mask = read_label_map(args.mask, generator.resolution, generator.n_classes)
    painted = synthesize(generator, np.repeat(mask[None], max(1, args.n), axis=0), seed=args.seed)
    tiles = np.concatenate([colorize(mask[None], cluster_palette(generator.n_classes)), painted])
    save_png(args.out, image_grid(tiles, ncol=len(tiles), scale=max(1, 128 // generator.resolution)))


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
