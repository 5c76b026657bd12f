"""Stage ufs_supervised: the UFS upper bound. The same network, parameters and real test split as stage ufs, trained
on the world's real train images with their true masks (classes, no mapping): the first `make_dataset.n_samples` of
them, as many pairs as a synthetic dataset has, so the bound differs from UFS in the labels only, not the budget."""

from __future__ import annotations

import argparse
import time

from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import load_section
from benchmark.stages.train_parser import prediction_picture
from benchmark.stages.ufs import PREVIEW, SEED_OFFSET, check_params, fit, report
from benchmark.tasks.segmenter import predict
from benchmark.tasks.ufs import save_network
from klish.metrics.segmentation import segmentation_scores

PARAMS = ("base", "ufs", "make_dataset.n_samples")  # sections, or single keys
METHOD = "supervised"


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("ufs_supervised", __doc__, {
        "world": "world dataset folder (real train and test splits)",
        "out": "folder for network.safetensors (+ .json)",
        "results": "folder for metrics.json, losses.csv, predictions.png"})


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    classes = list(domain.classes)
    base, p, n_pairs = load_section("base"), load_section("ufs"), load_section("make_dataset").n_samples
    images = shards.read_split(args.world, "train", "images")[:n_pairs]
    masks = shards.read_split(args.world, "train", "masks", n_ids=len(classes))[:n_pairs]
    test_images = shards.read_split(args.world, "test", "images")
    test_masks = shards.read_split(args.world, "test", "masks", n_ids=len(classes))
    check_params(base, p, images.shape[1])
    seed = base.seed + SEED_OFFSET
    start = time.perf_counter()
    model, result = fit(p, images, masks, len(classes), seed, base.device)
    pred = predict(model, test_images, device=base.device)
    scores = segmentation_scores(test_masks, pred, classes, "miou_real")
    seconds = time.perf_counter() - start
    save_network(args.out / "network.safetensors", model.cpu(), p.arch,
                 {"domain": args.domain, "method": METHOD, "seed": seed, "classes": classes,
                  "trained_on": f"{args.world} (train split, true masks)"})
    metrics = {**scores, "wall_seconds": round(seconds, 2), "train_seconds": round(result.seconds, 2),
               "seed": seed, "n_train": int(len(images)), "n_test": int(len(test_images)),
               "final_loss": round(float(sum(result.losses[-20:]) / len(result.losses[-20:])), 5)}
    report(args, stage="ufs", dvc_stage=f"ufs_supervised@{args.domain}", method=METHOD, seed=seed, base=base, p=p,
           metrics=metrics, losses=result.losses,
           picture=prediction_picture(test_images[:PREVIEW], test_masks[:PREVIEW], pred[:PREVIEW], domain.palette),
           extra_md5={"domain": args.domain, "method": METHOD})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
