"""Stage uscs: train a SPADE-style mask-to-image network (benchmark/tasks/uscs.py) on one synthetic dataset (GAN
images, cluster masks from one method's extractor), then score it on real data with no real label in the loop: the
method's UFS network segments the first `fid.n_samples` real test images into its K clusters, the network paints an
image from each mask, and the stage reports (a) FID/KID of those images against the same real test images
(`fid_inception_<n>v<n>`, the fid_reference features) and (b) mask consistency: mIoU over the K clusters between the
input mask and the UFS network's segmentation of the painted image. Spec section 4.6."""

from __future__ import annotations

import argparse
import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import CLUSTER_METHODS, load_section, params_md5
from benchmark.stages.fid_reference import KID_SEED_OFFSET, first_images, load_extractor, score_against
from benchmark.tasks.segmenter import predict
from benchmark.tasks.ufs import load_network
from benchmark.tasks.uscs import (
    MultiScaleDiscriminator,
    SPADEGenerator,
    save_generator,
    synthesize,
    train_uscs,
    triplet_picture,
)
from klish import atomic
from klish.errors import ConfigError, KlishError
from klish.metrics.fid import check_rgb, inception_features, load_features
from klish.metrics.segmentation import dataset_iou
from klish.seeding import seed_everything
from klish.visualize import save_png

PARAMS = ("base", "uscs", "fid")
SEED_OFFSET = 800
LOSS_COLUMNS = ("step", "d_loss", "g_loss")


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("uscs", __doc__, {
        "data": "synthetic dataset folder (image + cluster-mask pairs)",
        "world": "world dataset folder (its real test split)",
        "ufs": "folder of the method's UFS network (network.safetensors + .json)",
        "reference": "folder of the fid_reference feature tables (test.npy)",
        "out": "folder for generator.safetensors (+ .json)",
        "results": "folder for metrics.json, losses.csv, triplets.png"}, CLUSTER_METHODS)


@dataclass
class UscsCell:
    """Everything one USCS row needs: training pairs, the evaluation masks with the real images they describe,
    and the segmenter that checks the painted images."""

    images: np.ndarray  # uint8 [N, R, R, 3] training images
    masks: np.ndarray  # [N, R, R] training masks, ids < k
    k: int
    eval_masks: np.ndarray  # [n, R, R] masks of the first n real test images
    real: np.ndarray  # uint8 [n, R, R, 3] those real test images
    segmenter: torch.nn.Module  # k outputs: segments the painted images for mask consistency
    palette: list
    trained_on: str


def load_segmenter_for(path: Path, k: int) -> torch.nn.Module:
    """The UFS network at `path`; its output count must be the masks' K."""
    network, sidecar = load_network(path)
    n_out = int(sidecar["kwargs"]["n_classes"])
    if n_out != k:
        raise KlishError(f"{path}: the UFS network has {n_out} outputs but the masks have K={k} (a network from "
                         f"another dataset?)")
    return network


def losses_csv(history: list[dict[str, float]]) -> str:
    """Discriminator and generator losses per logged step, as CSV for a DVC plot."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: (int(record[k]) if k == "step" else round(record[k], 6)) for k in LOSS_COLUMNS})
    return buffer.getvalue()


def train_and_score(args: argparse.Namespace, cell: UscsCell, *, method: str, seed: int, dvc_stage: str,
                    extra_md5: dict[str, Any]) -> None:
    """Train the network on the cell's pairs, paint the evaluation masks, score FID/KID and mask consistency, and
    write the generator, metrics.json, losses.csv, triplets.png and an MLflow run."""
    base, p, f = load_section("base"), load_section("uscs"), load_section("fid")
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    check_rgb(cell.images, cell.trained_on)
    reference, _ = load_features(args.reference / "test.npy")
    if len(reference) != len(cell.eval_masks):
        raise KlishError(f"{args.reference / 'test.npy'}: {len(reference)} reference rows, but fid.n_samples is "
                         f"{len(cell.eval_masks)} (re-run fid_reference)")
    start = time.perf_counter()
    seed_everything(seed)
    generator = SPADEGenerator(cell.k, cell.images.shape[1], p.width, p.z_dim)
    discriminator = MultiScaleDiscriminator(cell.k, p.width)
    result = train_uscs(cell.images, cell.masks, generator, discriminator, steps=p.steps, batch_size=p.batch_size,
                        lr_generator=p.lr_generator, lr_discriminator=p.lr_discriminator, seed=seed,
                        fm_weight=p.fm_weight, log_every=p.log_every, device=base.device)
    train_seconds = time.perf_counter() - start
    painted = synthesize(result.generator, cell.eval_masks, seed=seed + 1, device=base.device)
    features = inception_features(load_extractor(f), painted, batch_size=f.batch_size, source="painted images",
                                  device=base.device)
    metrics: dict[str, Any] = score_against(features, {"test": reference}, base.seed + KID_SEED_OFFSET)
    resegmented = predict(cell.segmenter, painted, device=base.device)
    metrics.update({
        "mask_consistency_miou": float(np.nanmean(dataset_iou(cell.eval_masks, resegmented, cell.k))),
        "wall_seconds": round(time.perf_counter() - start, 2), "train_seconds": round(train_seconds, 2),
        "seed": seed, "k": cell.k, "n_train": int(len(cell.images)), "n_eval": int(len(cell.eval_masks)),
        "final_d_loss": result.history[-1]["d_loss"], "final_g_loss": result.history[-1]["g_loss"]})
    save_generator(args.out / "generator.safetensors", result.generator.cpu(),
                   {"domain": args.domain, "method": method, "seed": seed, "trained_on": cell.trained_on})
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "triplets.png", triplet_picture(cell.eval_masks[:p.preview], painted[:p.preview],
                                                            cell.real[:p.preview], cell.palette))
    atomic.write_text(args.results / "losses.csv", losses_csv(result.history))
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("uscs", dvc_stage=dvc_stage, params_md5=params_md5(base, p, f, **extra_md5),
                            params={"base": vars(base), "uscs": vars(p), "fid": vars(f), **extra_md5},
                            tags={"profile": base.profile, "domain": args.domain, "method": method,
                                  "seed": seed}) as mlrun:
        for record in result.history:
            mlrun.log_metrics({"d_loss": record["d_loss"], "g_loss": record["g_loss"]}, step=int(record["step"]))
        mlrun.log_metrics(metrics)
        mlrun.log_artifact(args.results / "triplets.png")


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    p, f = load_section("uscs"), load_section("fid")
    if args.method not in p.methods:
        raise ConfigError(f"params.yaml: method {args.method!r} is not in uscs.methods {p.methods}")
    if args.seed not in p.seeds:
        raise ConfigError(f"params.yaml: seed index {args.seed} is not in uscs.seeds {p.seeds}")
    manifest = shards.load_manifest(args.data)
    k = manifest.get("n_clusters")
    if not isinstance(k, int) or k < 2:
        raise KlishError(f"{args.data / shards.MANIFEST}: not a synthetic dataset (no n_clusters)")
    segmenter = load_segmenter_for(args.ufs / "network.safetensors", k)
    real = first_images(args.world, "test", f.n_samples)
    cell = UscsCell(images=shards.read_split(args.data, "train", "images"),
                    masks=shards.read_split(args.data, "train", "masks", n_ids=k), k=k,
                    eval_masks=predict(segmenter, real), real=real, segmenter=segmenter,
                    palette=[tuple(c) for c in manifest["palette"]], trained_on=str(args.data))
    base = load_section("base")
    train_and_score(args, cell, method=args.method, seed=base.seed + SEED_OFFSET + args.seed,
                    dvc_stage=f"uscs@{args.domain}-{args.method}-{args.seed}",
                    extra_md5={"domain": args.domain, "method": args.method, "seed_index": args.seed})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
