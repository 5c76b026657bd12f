"""Stage extract_features: sample the trained generator of one domain and store its selected feature maps
(fp16 memmap [N, S, S, C] + manifest + images) under artifacts/features/<domain>/, with a PCA picture of the
features and a metrics JSON."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.params import load_section, params_md5
from klish import atomic
from klish.features import FeatureStore, extract_features
from klish.generators import load_checkpoint
from klish.seeding import seed_everything
from klish.visualize import image_grid, save_png

PARAMS = ("base", "extract_features")
SEED_OFFSET = 200


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("extract_features", __doc__, {
        "checkpoint": "generator .safetensors (with its .json)", "out": "feature store folder to write",
        "results": "folder for pca.png and metrics.json"})


def pca_picture(store: FeatureStore, n: int = 8, seed: int = 0) -> np.ndarray:
    """Generated images (top row) above the first three principal components of their features shown as RGB."""
    n = min(n, len(store))
    feats = np.asarray(store.features[:n], dtype=np.float32)  # [n, S, S, C]
    flat = feats.reshape(-1, feats.shape[-1])
    comps = PCA(n_components=3, random_state=seed).fit_transform(flat)
    lo, hi = np.percentile(comps, [1, 99], axis=0)
    rgb = np.clip((comps - lo) / np.maximum(hi - lo, 1e-8), 0, 1)
    rgb = (rgb.reshape(n, feats.shape[1], feats.shape[2], 3) * 255).astype(np.uint8)
    images = np.asarray(store.images[:n])
    if images.shape[1] < rgb.shape[1]:  # show both rows at the same size
        factor = rgb.shape[1] // images.shape[1]
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    elif images.shape[1] > rgb.shape[1]:
        factor = images.shape[1] // rgb.shape[1]
        rgb = rgb.repeat(factor, axis=1).repeat(factor, axis=2)
    scale = max(1, 96 // rgb.shape[1])
    return np.concatenate([image_grid(images, n, scale=scale), image_grid(rgb, n, scale=scale)])


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("extract_features")
    seed = base.seed + SEED_OFFSET
    seed_everything(seed)
    generator, sidecar = load_checkpoint(args.checkpoint)
    info = {"checkpoint": str(args.checkpoint), "sha256": sidecar["sha256"], "arch": sidecar["arch"],
            "kwargs": sidecar["kwargs"], "step": sidecar.get("step"), "domain": args.domain}
    start = time.perf_counter()
    manifest = extract_features(generator, args.out, n_samples=p.n_samples, seed=seed, size=p.size,
                                batch_size=p.batch_size, layers=p.layers, max_channels=p.max_channels,
                                normalize=p.normalize, truncation=p.truncation, generator_info=info,
                                device=base.device)
    seconds = time.perf_counter() - start
    store = FeatureStore(args.out)
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "pca.png", pca_picture(store, seed=seed))
    metrics = {"wall_seconds": round(seconds, 2), "seed": seed, "n_samples": p.n_samples, "size": p.size,
               "channels": manifest["channels"], "layers": [layer["name"] for layer in manifest["layers"]],
               "store_megabytes": round(store.features.nbytes / 2**20, 2)}
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("extract_features", dvc_stage=f"extract_features@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain, checkpoint=sidecar["sha256"]),
                            params={"base": vars(base), "extract_features": vars(p), "domain": args.domain,
                                    "checkpoint_sha256": sidecar["sha256"]},
                            tags={"profile": base.profile, "domain": args.domain, "method": sidecar["arch"],
                                  "seed": seed}) as mlrun:
        mlrun.log_metrics({"wall_seconds": seconds, "channels": manifest["channels"],
                           "store_megabytes": metrics["store_megabytes"]})
        mlrun.log_artifact(args.results / "pca.png")
        mlrun.log_artifact(Path(args.out) / "manifest.json")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
