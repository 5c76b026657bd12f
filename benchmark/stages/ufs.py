"""Stage ufs: train a segmentation network on one synthetic dataset (GAN images, cluster-id masks from one method's
extractor), then segment the world's real test images. Clusters become classes through the greedy many-to-one
mapping found on generated images against the parser's pseudo ground truth (no real label: the main number,
`miou_real_fg`); the mapping found on the real test images themselves is reported beside it as an oracle bound
(`miou_real_oracle_fg`). Spec sections 4.3-4.4."""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import CLUSTER_METHODS, UfsParams, load_section, params_md5
from benchmark.stages.train_parser import prediction_picture
from benchmark.tasks.segmenter import predict, train_segmenter
from benchmark.tasks.ufs import build_network, cluster_mapping, save_network
from klish import atomic
from klish.errors import ConfigError, KlishError
from klish.extractor import load_extractors
from klish.features import FeatureStore
from klish.metrics.segmentation import segmentation_scores
from klish.seeding import seed_everything
from klish.visualize import save_png

PARAMS = ("base", "ufs")
SEED_OFFSET = 500
PREVIEW = 8


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("ufs", __doc__, {
        "data": "synthetic dataset folder", "world": "world dataset folder (its real test split)",
        "eval": "evaluation samples folder (features/ + pseudo_gt.npy), for the cluster -> class mapping",
        "out": "folder for network.safetensors (+ .json)", "results": "folder for metrics.json, losses.csv, "
        "predictions.png"}, CLUSTER_METHODS)


def losses_csv(losses: list[float]) -> str:
    """Training loss per step, as CSV for a DVC plot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", "loss"])
    writer.writerows([i, round(v, 6)] for i, v in enumerate(losses))
    return buffer.getvalue()


def check_params(base: Any, p: UfsParams, resolution: int) -> None:
    """One-line errors for settings the data or the machine cannot honour."""
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    factor = 2**p.depth if p.arch == "unet" else 4
    if resolution % factor:
        raise ConfigError(f"params.yaml: ufs.arch={p.arch} (depth {p.depth}) needs the resolution {resolution} to "
                          f"be divisible by {factor}")


def fit(p: UfsParams, images: np.ndarray, masks: np.ndarray, n_out: int, seed: int, device: str) -> tuple[Any, Any]:
    """Train the UFS network with `n_out` outputs on image/mask pairs: (network, TrainResult)."""
    seed_everything(seed)
    model = build_network(p.arch, n_out, p.width, p.depth)
    result = train_segmenter(model, images, masks, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=seed,
                             device=device, class_weighting=p.class_weighting)
    return model, result


def report(args: argparse.Namespace, *, stage: str, dvc_stage: str, method: str, seed: int, base: Any, p: UfsParams,
           metrics: dict[str, Any], losses: list[float], picture: np.ndarray, extra_md5: dict[str, Any]) -> None:
    """Write metrics.json, losses.csv and predictions.png under `args.results` and mirror them into MLflow."""
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "predictions.png", picture)
    atomic.write_text(args.results / "losses.csv", losses_csv(losses))
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run(stage, dvc_stage=dvc_stage, params_md5=params_md5(base, p, **extra_md5),
                            params={"base": vars(base), "ufs": vars(p), **extra_md5},
                            tags={"profile": base.profile, "domain": args.domain, "method": method,
                                  "seed": seed}) as mlrun:
        for step in range(0, len(losses), 10):
            mlrun.log_metrics({"loss": losses[step]}, step=step)
        mlrun.log_metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        mlrun.log_artifact(args.results / "predictions.png")


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    classes = list(domain.classes)
    base, p = load_section("base"), load_section("ufs")
    if args.method not in p.methods:
        raise ConfigError(f"params.yaml: method {args.method!r} is not in ufs.methods {p.methods}")
    if args.seed not in p.seeds:
        raise ConfigError(f"params.yaml: seed index {args.seed} is not in ufs.seeds {p.seeds}")
    manifest = shards.load_manifest(args.data)
    k = manifest.get("n_clusters")
    if not isinstance(k, int) or k < 2:
        raise KlishError(f"{args.data / shards.MANIFEST}: not a synthetic dataset (no n_clusters)")
    images = shards.read_split(args.data, "train", "images")
    masks = shards.read_split(args.data, "train", "masks", n_ids=k)
    test_images = shards.read_split(args.world, "test", "images")
    test_masks = shards.read_split(args.world, "test", "masks", n_ids=len(classes))
    check_params(base, p, images.shape[1])
    # the cluster -> class mapping on generated images: the dataset's extractor against the parser's labels
    extractors = load_extractors(Path(manifest["clustering"]) / "extractors.safetensors")
    if k not in extractors:
        raise KlishError(f"{manifest['clustering']}: no extractor for the dataset's K={k}")
    pseudo_gt_path = args.eval / "pseudo_gt.npy"
    if not pseudo_gt_path.is_file():
        raise KlishError(f"{pseudo_gt_path}: pseudo ground truth not found (run sample_eval first)")
    pseudo_gt = np.load(pseudo_gt_path)
    eval_clusters = extractors[k].predict_masks(FeatureStore(args.eval / "features").features, pseudo_gt.shape[1])
    mapping = cluster_mapping(eval_clusters, pseudo_gt, k, len(classes))

    seed = base.seed + SEED_OFFSET + args.seed
    start = time.perf_counter()
    model, result = fit(p, images, masks, k, seed, base.device)
    clusters = predict(model, test_images, device=base.device)
    pred = mapping[clusters]
    oracle = cluster_mapping(clusters, test_masks, k, len(classes))
    scores = {**segmentation_scores(test_masks, pred, classes, "miou_real"),
              **segmentation_scores(test_masks, oracle[clusters], classes, "miou_real_oracle")}
    seconds = time.perf_counter() - start
    save_network(args.out / "network.safetensors", model.cpu(), p.arch,
                 {"domain": args.domain, "method": args.method, "seed": seed, "n_clusters": k,
                  "mapping_generated": mapping.tolist(), "classes": classes, "trained_on": str(args.data)})
    metrics = {**scores, "wall_seconds": round(seconds, 2), "train_seconds": round(result.seconds, 2),
               "seed": seed, "k": k, "n_train": int(len(images)), "n_test": int(len(test_images)),
               "mapping_generated": {f"cluster {j}": classes[c] for j, c in enumerate(mapping)},
               "final_loss": round(float(np.mean(result.losses[-20:])), 5)}
    report(args, stage="ufs", dvc_stage=f"ufs@{args.domain}-{args.method}-{args.seed}", method=args.method,
           seed=seed, base=base, p=p, metrics=metrics, losses=result.losses,
           picture=prediction_picture(test_images[:PREVIEW], test_masks[:PREVIEW], pred[:PREVIEW], domain.palette),
           extra_md5={"domain": args.domain, "method": args.method, "seed_index": args.seed,
                      "dataset": json.dumps(manifest.get("generator", {}), sort_keys=True)})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
