"""CelebAMask-HQ (Lee et al., CVPR 2020) as distributed, read into the suite's dataset format (npz shards + manifest,
as the world's), so the parser, UFS and USCS stages run on it as on a world domain.

The distribution: `CelebA-HQ-img/{k}.jpg` (1024 x 1024), `CelebAMask-HQ-mask-anno/{k // 2000}/{k:05d}_{part}.png`
(512 x 512 binary part masks, one file per part present) and `CelebA-HQ-to-CelebA-mapping.txt` (CelebA-HQ index ->
original CelebA file). Parts are merged into the KLiSH reference's 15 classes (spec 4.5), later groups painted over
earlier ones. Splits follow the standard CelebA partition of the original file number (spec 4.3): up to 162,770
train, up to 182,637 val, the rest test.

    python -m benchmark.data.celebamask_hq --root data/CelebAMask-HQ --out datasets/celebamask_hq --resolution 64
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmark.cli import run
from benchmark.data import shards
from benchmark.data.shards import DatasetError
from klish import atomic

log = logging.getLogger(__name__)

SOURCE = "https://github.com/switchablenorms/CelebAMask-HQ (CelebAMask-HQ.zip, about 3 GB; non-commercial research)"
IMAGES, MASKS, MAPPING = "CelebA-HQ-img", "CelebAMask-HQ-mask-anno", "CelebA-HQ-to-CelebA-mapping.txt"
MASK_SIZE = 512
FILES_PER_FOLDER = 2000
TRAIN_LAST, VAL_LAST = 162770, 182637  # the CelebA partition by original file number
SPLITS = ("train", "val", "test")

# (class, part masks painted with value index + 1), in painting order: later rows overwrite earlier ones.
PART_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("skin", ("skin",)), ("nose", ("nose",)), ("eye_g", ("eye_g",)), ("eye", ("l_eye", "r_eye")),
    ("brow", ("l_brow", "r_brow")), ("ear", ("l_ear", "r_ear")), ("mouth", ("mouth",)), ("u_lip", ("u_lip",)),
    ("l_lip", ("l_lip",)), ("hair", ("hair",)), ("hat", ("hat",)), ("ear_r", ("ear_r",)),
    ("neck", ("neck_l", "neck")), ("cloth", ("cloth",)))
CLASSES = ("background",) + tuple(name for name, _ in PART_GROUPS)
PALETTE = ((0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
           (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
           (255, 51, 153))


@dataclass(frozen=True)
class Sample:
    """One CelebA-HQ image: its index, the original CelebA file number and its split."""

    index: int
    celeba_number: int
    split: str


def split_of(celeba_number: int) -> str:
    """The standard CelebA partition of an original CelebA file number."""
    return "train" if celeba_number <= TRAIN_LAST else "val" if celeba_number <= VAL_LAST else "test"


def check_layout(root: str | os.PathLike) -> Path:
    """`root` if it holds the distribution's folders and mapping file; else one line on where to put and get it."""
    root = Path(root)
    missing = [name for name in (IMAGES, MASKS, MAPPING) if not (root / name).exists()]
    if missing:
        raise DatasetError(f"{root}: CelebAMask-HQ not found (missing {', '.join(missing)}); unpack the dataset so "
                           f"that {root}/{IMAGES}, {root}/{MASKS} and {root}/{MAPPING} exist; get it from {SOURCE}")
    return root


def read_samples(root: str | os.PathLike) -> list[Sample]:
    """Every image listed in the mapping file, with its split (header `idx orig_idx orig_file`)."""
    path = Path(root) / MAPPING
    samples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] == "idx":
            continue
        try:
            index, celeba = int(fields[0]), int(Path(fields[2]).stem)
        except (IndexError, ValueError):
            raise DatasetError(f"{path}:{number}: expected 'idx orig_idx orig_file', got {line.strip()!r}") from None
        samples.append(Sample(index, celeba, split_of(celeba)))
    if not samples:
        raise DatasetError(f"{path}: lists no images")
    return samples


def part_path(root: Path, index: int, part: str) -> Path:
    """The mask file of `part` for image `index` (absent when the part is not in the image)."""
    return root / MASKS / str(index // FILES_PER_FOLDER) / f"{index:05d}_{part}.png"


def merge_parts(root: str | os.PathLike, index: int) -> np.ndarray:
    """The 15-class label map [512, 512] uint8 of image `index` (spec 4.5)."""
    root = Path(root)
    label = np.zeros((MASK_SIZE, MASK_SIZE), dtype=np.uint8)
    for value, (_, parts) in enumerate(PART_GROUPS, start=1):
        for part in parts:
            path = part_path(root, index, part)
            if not path.is_file():
                continue
            try:
                with Image.open(path) as handle:
                    mask = np.asarray(handle.convert("L"))
            except OSError as exc:
                raise DatasetError(f"{path}: not a readable PNG ({exc})") from None
            if mask.shape != label.shape:
                raise DatasetError(f"{path}: part mask is {mask.shape[1]}x{mask.shape[0]}, expected "
                                   f"{MASK_SIZE}x{MASK_SIZE}")
            label[mask > 127] = value
    return label


def load_sample(root: Path, index: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Image [R, R, 3] (bilinear, from 1024) and label map [R, R] (nearest, from 512) of image `index`."""
    path = root / IMAGES / f"{index}.jpg"
    try:
        with Image.open(path) as handle:
            image = np.asarray(handle.convert("RGB").resize((resolution, resolution), Image.BILINEAR))
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from None
    label = Image.fromarray(merge_parts(root, index)).resize((resolution, resolution), Image.NEAREST)
    return image, np.asarray(label)


def convert(root: str | os.PathLike, out_dir: str | os.PathLike, *, resolution: int, splits: tuple[str, ...] = SPLITS,
            limit: int | None = None, shard_size: int = 1000) -> dict:
    """Write the chosen splits (at most `limit` images each, in index order) at `resolution` into `out_dir`
    atomically, in the format of benchmark.data.shards; returns the manifest."""
    root = check_layout(root)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise DatasetError(f"unknown split(s) {', '.join(unknown)}: expected some of {', '.join(SPLITS)}")
    samples = read_samples(root)
    out_dir = Path(out_dir)
    with atomic.atomic_directory(out_dir) as tmp:
        entries, counts = {}, np.zeros(len(CLASSES), dtype=np.int64)
        preview: list[tuple[np.ndarray, np.ndarray]] = []
        for split in splits:
            chosen = sorted((s for s in samples if s.split == split), key=lambda s: s.index)[:limit]
            writer = shards.ShardWriter(tmp, split, shard_size)
            for sample in tqdm(chosen, desc=f"celebamask_hq {split}", unit="image"):
                image, label = load_sample(root, sample.index, resolution)
                writer.add(image[None], label[None])
                counts += np.bincount(label.ravel(), minlength=len(CLASSES))
                if split == "test" and len(preview) < 16:
                    preview.append((image, label))
            entries[split] = {**writer.close(), "celeba_hq_indices": [s.index for s in chosen]}
        manifest = {
            "domain": "celebamask_hq", "classes": list(CLASSES), "palette": [list(c) for c in PALETTE],
            "resolution": resolution, "splits": entries, "source": SOURCE, "root": str(root),
            "labels": "KLiSH reference's 15 classes (spec 4.5), parts painted in class order",
            "partition": f"CelebA: original file <= {TRAIN_LAST} train, <= {VAL_LAST} val, else test",
            "format": "npz shards, key 'data': images uint8 [N,H,W,3], masks uint8 [N,H,W]",
            "class_pixel_share": [round(float(c), 6) for c in counts / max(counts.sum(), 1)],
        }
        atomic.write_json(tmp / shards.MANIFEST, manifest)
        if preview:
            shards.write_preview(tmp / "preview.png", np.stack([p[0] for p in preview]),
                                 np.stack([p[1] for p in preview]), PALETTE)
    log.info("CelebAMask-HQ: %s", ", ".join(f"{k} {v['n']}" for k, v in entries.items()))
    return manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.data.celebamask_hq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the unpacked CelebAMask-HQ folder")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument("--resolution", type=int, default=64, help="square image and label size (default 64)")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per split")
    parser.add_argument("--shard-size", type=int, default=1000)
    return parser


def _main(args: argparse.Namespace) -> None:
    convert(args.root, args.out, resolution=args.resolution, splits=tuple(args.splits), limit=args.limit,
            shard_size=args.shard_size)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
