"""Stage train_parser: train the domain's supervised parser (a UNet) on the world's real train images and masks,
and report its own accuracy on the real test split. It labels GAN samples in place of ground truth (the pseudo
ground truth of spec section 4.1), so its accuracy bounds how far clustering metrics against it can be trusted."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import load_section, params_md5
from benchmark.tasks.segmenter import UNet, predict, save_segmenter, train_segmenter
from klish import atomic
from klish.errors import ConfigError
from klish.metrics.segmentation import segmentation_scores
from klish.seeding import seed_everything
from klish.visualize import image_grid, overlay, save_png

PARAMS = ("base", "train_parser")
SEED_OFFSET = 400
PREVIEW = 8


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("train_parser", __doc__, {
        "data": "rendered world dataset folder", "out": "folder for parser.safetensors (+ .json)",
        "results": "folder for metrics.json and predictions.png"})


def prediction_picture(images: np.ndarray, truth: np.ndarray, pred: np.ndarray, palette: list) -> np.ndarray:
    """Rows: test images, their true masks, the parser's masks (as overlays)."""
    scale = max(1, 64 // images.shape[1])
    rows = [images, overlay(images, truth, palette), overlay(images, pred, palette)]
    return np.concatenate([image_grid(r, len(images), scale=scale) for r in rows])


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    base, p = load_section("base"), load_section("train_parser")
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    seed = base.seed + SEED_OFFSET
    seed_everything(seed)
    images, masks = shards.read_split(args.data, "train", "images"), shards.read_split(args.data, "train", "masks")
    test_images, test_masks = (shards.read_split(args.data, "test", "images"),
                               shards.read_split(args.data, "test", "masks"))
    if images.shape[1] % 2**p.depth:
        raise ConfigError(f"params.yaml: train_parser.depth={p.depth} needs the resolution {images.shape[1]} to be "
                          f"divisible by {2**p.depth}")
    model = UNet(len(domain.classes), width=p.width, depth=p.depth)
    start = time.perf_counter()
    result = train_segmenter(model, images, masks, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=seed,
                             device=base.device, class_weighting=p.class_weighting)
    pred = predict(model, test_images, device=base.device)
    scores = segmentation_scores(test_masks, pred, list(domain.classes), "miou_real")
    model.cpu()
    save_segmenter(Path(args.out) / "parser.safetensors", model,
                   {"domain": args.domain, "classes": list(domain.classes), "seed": seed,
                    "trained_on": f"{args.data} (train split, {len(images)} images)", **{
                        k: v for k, v in scores.items() if k != "miou_real_iou"}})
    seconds = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "predictions.png",
             prediction_picture(test_images[:PREVIEW], test_masks[:PREVIEW], pred[:PREVIEW], domain.palette))
    metrics = {**scores, "wall_seconds": round(seconds, 2), "train_seconds": round(result.seconds, 2),
               "seed": seed, "n_train": int(len(images)), "n_test": int(len(test_images)),
               "final_loss": round(float(np.mean(result.losses[-20:])), 5)}
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("train_parser", dvc_stage=f"train_parser@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain),
                            params={"base": vars(base), "train_parser": vars(p), "domain": args.domain},
                            tags={"profile": base.profile, "domain": args.domain, "method": "unet",
                                  "seed": seed}) as mlrun:
        for step in range(0, len(result.losses), 10):
            mlrun.log_metrics({"loss": result.losses[step]}, step=step)
        mlrun.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        mlrun.log_artifact(args.results / "predictions.png")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
