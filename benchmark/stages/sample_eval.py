"""Stage sample_eval: draw the evaluation samples of one domain from its GAN with their own seed (the reference's
2022), store their features (the same layers and resolution as the clustered store) and label the images with the
domain's parser: the pseudo ground truth every clustering of the domain is evaluated against (spec section 4.2)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.world import get_domain
from benchmark.params import load_section, params_md5
from benchmark.tasks.segmenter import load_segmenter, predict
from klish import atomic
from klish.errors import CheckpointError
from klish.features import FeatureStore, extract_features
from klish.generators import load_checkpoint
from klish.visualize import image_grid, overlay, save_png

PARAMS = ("base", "eval_samples")
PREVIEW = 16


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("sample_eval", __doc__, {
        "checkpoint": "generator .safetensors (with its .json)", "features": "the clustered feature store (layers)",
        "parser": "parser .safetensors (with its .json)", "out": "folder for features/ and pseudo_gt.npy",
        "results": "folder for metrics.json and pseudo_gt.png"})


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    base, p = load_section("base"), load_section("eval_samples")
    reference = FeatureStore(args.features).manifest
    generator, sidecar = load_checkpoint(args.checkpoint)
    if sidecar["sha256"] != reference.get("generator", {}).get("sha256"):
        raise CheckpointError(f"{args.checkpoint}: not the generator of the feature store {args.features} "
                              f"(sha256 differs): re-run extract_features")
    parser, parser_info = load_segmenter(args.parser)
    start = time.perf_counter()
    info = {"checkpoint": str(args.checkpoint), "sha256": sidecar["sha256"], "arch": sidecar["arch"],
            "kwargs": sidecar["kwargs"], "step": sidecar.get("step"), "domain": args.domain, "purpose": "evaluation"}
    with atomic.atomic_directory(args.out) as tmp:
        extract_features(generator, tmp / "features", n_samples=p.n_samples, seed=p.seed, size=reference["size"],
                         batch_size=p.batch_size, layers=[layer["name"] for layer in reference["layers"]],
                         normalize=reference["normalize"], truncation=reference["latent"]["truncation"],
                         generator_info=info)
        images = np.asarray(FeatureStore(tmp / "features").images)
        pseudo_gt = predict(parser, images).astype(np.uint8)
        np.save(tmp / "pseudo_gt.npy", pseudo_gt)
        atomic.write_json(tmp / "info.json", {
            "seed": p.seed, "n_samples": p.n_samples, "classes": list(domain.classes),
            "parser": {k: parser_info.get(k) for k in ("miou_real", "miou_real_fg", "miou_real_pixel_acc")}})
    seconds = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    shown = images[:PREVIEW]
    scale = max(1, 64 // shown.shape[1])
    save_png(args.results / "pseudo_gt.png",
             np.concatenate([image_grid(shown, PREVIEW, scale=scale),
                             image_grid(overlay(shown, pseudo_gt[:PREVIEW], domain.palette), PREVIEW, scale=scale)]))
    freq = np.bincount(pseudo_gt.ravel(), minlength=len(domain.classes)) / pseudo_gt.size
    metrics = {"wall_seconds": round(seconds, 2), "seed": p.seed, "n_samples": p.n_samples,
               "parser_miou_real": parser_info.get("miou_real"),
               "class_frequency": {c: round(float(f), 5) for c, f in zip(domain.classes, freq)}}
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("sample_eval", dvc_stage=f"sample_eval@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain, checkpoint=sidecar["sha256"]),
                            params={"base": vars(base), "eval_samples": vars(p), "domain": args.domain},
                            tags={"profile": base.profile, "domain": args.domain, "method": "parser",
                                  "seed": p.seed}) as mlrun:
        mlrun.log_metrics({"wall_seconds": seconds})
        mlrun.log_artifact(args.results / "pseudo_gt.png")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
