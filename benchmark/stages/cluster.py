"""Stage cluster: cluster the pixels of one domain's feature store with one method (KLiSH or a baseline), once per
seed of `cluster.seeds`, and write per seed a linear semantic extractor per K
(artifacts/cluster/<domain>/<method>/s<seed>/extractors.safetensors), the method's model summary (KLiSH: the merge
history; baselines: their K values), the pixel labels at `cluster.preview_k`, and a mask grid of a few samples.
The seeds share one process (one feature load, one start-up): per-stage start-up is a large part of a CPU run.
Metrics of every seed go to one JSON ({"s0": {...}, ...}); each seed is its own MLflow run."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.params import CLUSTER_METHODS, ClusterParams, load_section, params_md5
from klish import atomic
from klish.cluster import AHCExtractor, KASPExtractor, KLiSH, KMeansExtractor
from klish.errors import ConfigError
from klish.extractor import save_extractors
from klish.features import FeatureStore
from klish.visualize import cluster_palette, image_grid, overlay, save_png

PARAMS = ("base", "cluster")
SEED_OFFSET = 300
PREVIEW = 8

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("cluster", __doc__, {
        "features": "feature store folder",
        "out": "folder for s<seed>/ with extractors.safetensors, model.json, labels.npy",
        "results": "folder for s<seed>/ with masks.png (and KLiSH's merges.csv)",
        "metrics": "metrics JSON of every seed"}, CLUSTER_METHODS, per_seed=False)


def build_method(method: str, p: ClusterParams, seed: int, verbose: int = 1) -> Any:
    """The estimator for `method` with the params of the `cluster` section."""
    k = p.preview_k
    if method == "klish":
        return KLiSH(n_clusters=k, n_init_clusters=p.n_init_clusters, C=p.C, C_scaling=p.C_scaling, max_iter=p.max_iter,
                     init_max_iter=p.kmeans_max_iter, random_state=seed, verbose=verbose)
    if method in ("kmeans", "kmeans_arccos"):
        return KMeansExtractor(k, k_values=p.k_values, metric="arccos" if method == "kmeans_arccos" else "euclidean",
                               max_iter=p.kmeans_max_iter, random_state=seed)
    if method in ("ahc_ward", "ahc_cosine"):
        return AHCExtractor(k, k_values=p.k_values, linkage="ward" if method == "ahc_ward" else "average",
                            n_subsample=p.ahc_subsample, random_state=seed)
    if method == "kasp":
        return KASPExtractor(k, k_values=p.k_values, n_centroids=p.n_init_clusters, n_neighbors=p.kasp_neighbors,
                             max_iter=p.kmeans_max_iter, random_state=seed)
    raise ConfigError(f"unknown clustering method {method!r} (valid: {', '.join(CLUSTER_METHODS)})")


def model_summary(model: Any, method: str) -> dict[str, Any]:
    """What the fit found besides the extractors: KLiSH's merge history, or the baselines' K values."""
    summary: dict[str, Any] = {"method": method, "k_values": [k for k in model.k_values_ if k >= 2]}
    if isinstance(model, KLiSH):
        summary["n_init_clusters"] = model.n_init_clusters_
        summary["n_iter"] = model.n_iter_
        summary["merges"] = [{"k": r["n_clusters"], "merged": r["merged"], "nodes": r["nodes"],
                              "delete_metric": r["delete_metric"], "merge_metric": r["merge_metric"],
                              "sizes": np.asarray(r["sizes"]).tolist()}
                             for r in model.merge_history_ if r["merged"] is not None]
    return summary


def merges_csv(summary: dict[str, Any]) -> str:
    """KLiSH's deleting and merging metric per K, as CSV for a DVC plot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["k", "delete_metric", "merge_metric"])
    for m in summary["merges"]:
        writer.writerow([m["k"], round(m["delete_metric"], 6), round(m["merge_metric"], 6)])
    return buffer.getvalue()


def mask_grid(images: np.ndarray, masks_by_k: dict[int, np.ndarray]) -> np.ndarray:
    """Rows: the images, then for each K the cluster masks blended over the images."""
    scale = max(1, 64 // images.shape[1])
    rows = [image_grid(images, len(images), scale=scale)]
    for k, masks in masks_by_k.items():
        rows.append(image_grid(overlay(images, masks, cluster_palette(k), alpha=0.6), len(images), scale=scale))
    return np.concatenate(rows)


def fit_seed(X: np.ndarray, method: str, p: ClusterParams, seed: int) -> tuple[Any, float]:
    """Fit `method` on pixel features X with one seed: the model and its fit time in seconds."""
    model = build_method(method, p, seed)
    start = time.perf_counter()
    model.fit(X)
    return model, time.perf_counter() - start


def write_seed(model: Any, info: dict[str, Any], out: Path, results: Path, store: FeatureStore,
               preview_k: int) -> dict[int, Any]:
    """Write one seed's extractors, model summary, labels, mask grid and merge curve: its extractors by K."""
    n, size = len(store), store.features.shape[1]
    extractors = {k: model.extractor(k) for k in model.k_values_ if k >= 2}
    summary = model_summary(model, info["method"])
    out.mkdir(parents=True)
    save_extractors(out / "extractors.safetensors", extractors, info)
    atomic.write_json(out / "model.json", {**info, **summary})
    np.save(out / "labels.npy", model.labels_.reshape(n, size, size).astype(np.int16))
    results.mkdir(parents=True)
    preview_feats = store.load(PREVIEW)
    shown = sorted({k for k in (preview_k // 2, preview_k, 2 * preview_k) if k in extractors})
    images = np.asarray(store.images[:PREVIEW])
    masks = {k: extractors[k].predict(preview_feats) for k in shown}
    if images.shape[1] != size:  # masks at the image resolution
        factor = images.shape[1] // size
        masks = {k: m.repeat(factor, axis=1).repeat(factor, axis=2) for k, m in masks.items()}
    save_png(results / "masks.png", mask_grid(images, masks))
    if summary.get("merges"):
        atomic.write_text(results / "merges.csv", merges_csv(summary))
    return extractors


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("cluster")
    p = dataclasses.replace(p, C=p.C_for(args.domain))  # the domain's C, recorded as the C that ran
    if args.method not in p.methods:
        raise ConfigError(f"params.yaml: method {args.method!r} is not in cluster.methods {p.methods}")
    store = FeatureStore(args.features)
    X = store.load().reshape(-1, store.features.shape[-1])  # [N*S*S, C], one copy
    all_metrics: dict[str, dict[str, Any]] = {}
    with atomic.atomic_directory(args.out) as out, atomic.atomic_directory(args.results) as results:
        for index in p.seeds:
            seed = base.seed + SEED_OFFSET + index
            logger.info("%s/%s: seed index %d (seed %d) of %s", args.domain, args.method, index, seed, p.seeds)
            model, fit_seconds = fit_seed(X, args.method, p, seed)
            info = {"method": args.method, "seed": seed, "domain": args.domain, "features": str(args.features),
                    "generator_sha256": store.manifest.get("generator", {}).get("sha256")}
            extractors = write_seed(model, info, out / f"s{index}", results / f"s{index}", store, p.preview_k)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            metrics = {"fit_seconds": round(fit_seconds, 2), "peak_rss_megabytes": round(peak_mb, 1), "seed": seed,
                       "n_pixels": int(X.shape[0]), "n_features": int(X.shape[1]),
                       "n_k_values": len(extractors), "k_max": max(extractors)}
            # label-free collapse indicator: the share of the block's pixels in the largest cluster at preview_k
            metrics["largest_cluster_share"] = round(float(np.bincount(model.labels_).max() / len(model.labels_)), 4)
            if isinstance(model, KLiSH):
                metrics["n_iter"] = model.n_iter_
                metrics["C_effective"] = model.C_effective_
            all_metrics[f"s{index}"] = metrics
            log_seed_run(args, base, p, index, metrics, model, results / f"s{index}" / "masks.png")
        atomic.write_json(args.metrics, all_metrics)


def log_seed_run(args: argparse.Namespace, base: Any, p: ClusterParams, index: int, metrics: dict[str, Any],
                 model: Any, masks_png: Path) -> None:
    """One MLflow run per seed: its metrics, KLiSH's merging curve as stepped metrics, and the mask grid."""
    with tracking.stage_run("cluster", dvc_stage=f"cluster@{args.domain}-{args.method}",
                            params_md5=params_md5(base, p, domain=args.domain, method=args.method, seed=index),
                            params={"base": vars(base), "cluster": vars(p), "domain": args.domain,
                                    "method": args.method, "seed_index": index},
                            tags={"profile": base.profile, "domain": args.domain, "method": args.method,
                                  "seed": metrics["seed"]}) as mlrun:
        mlrun.log_metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        if isinstance(model, KLiSH):
            for r in model.merge_history_:
                if r["merged"] is not None:
                    mlrun.log_metrics({"delete_metric": r["delete_metric"], "merge_metric": r["merge_metric"]},
                                      step=r["n_clusters"])
        mlrun.log_artifact(masks_png)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
