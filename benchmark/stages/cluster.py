"""Stage cluster: cluster the pixels of one domain's feature store with one method (KLiSH or a baseline) and one
seed, and write a linear semantic extractor per K (artifacts/cluster/<domain>/<method>/s<seed>/extractors.safetensors),
the method's model summary (KLiSH: the merge history; baselines: their K values), the pixel labels at
`cluster.preview_k`, and a mask grid of a few samples."""

from __future__ import annotations

import argparse
import csv
import io
import resource
import time
from typing import Any

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.world import get_domain
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


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("cluster", __doc__, {
        "features": "feature store folder", "out": "folder for extractors.safetensors, model.json, labels.npy",
        "results": "folder for metrics.json, masks.png (and KLiSH's merges.csv)"}, CLUSTER_METHODS)


def build_method(method: str, p: ClusterParams, seed: int, verbose: int = 1) -> Any:
    """The estimator for `method` with the params of the `cluster` section."""
    k = p.preview_k
    if method == "klish":
        return KLiSH(n_clusters=k, n_init_clusters=p.n_init_clusters, C=p.C, max_iter=p.max_iter,
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


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    base, p = load_section("base"), load_section("cluster")
    if args.method not in p.methods:
        raise ConfigError(f"params.yaml: method {args.method!r} is not in cluster.methods {p.methods}")
    if args.seed not in p.seeds:
        raise ConfigError(f"params.yaml: seed index {args.seed} is not in cluster.seeds {p.seeds}")
    seed = base.seed + SEED_OFFSET + args.seed
    store = FeatureStore(args.features)
    n, size = len(store), store.features.shape[1]
    X = np.asarray(store.features, dtype=np.float32).reshape(-1, store.features.shape[-1])  # [N*S*S, C], one copy
    model = build_method(args.method, p, seed)
    start = time.perf_counter()
    model.fit(X)
    fit_seconds = time.perf_counter() - start
    extractors = {k: model.extractor(k) for k in model.k_values_ if k >= 2}
    summary = model_summary(model, args.method)
    info = {"method": args.method, "seed": seed, "domain": args.domain, "features": str(args.features),
            "generator_sha256": store.manifest.get("generator", {}).get("sha256")}
    with atomic.atomic_directory(args.out) as tmp:
        save_extractors(tmp / "extractors.safetensors", extractors, info)
        atomic.write_json(tmp / "model.json", {**info, **summary})
        np.save(tmp / "labels.npy", model.labels_.reshape(n, size, size).astype(np.int16))
    args.results.mkdir(parents=True, exist_ok=True)
    preview_feats = np.asarray(store.features[:PREVIEW], dtype=np.float32)
    shown = sorted({k for k in (p.preview_k // 2, p.preview_k, 2 * p.preview_k) if k in extractors})
    images = np.asarray(store.images[:PREVIEW])
    masks = {k: extractors[k].predict(preview_feats) for k in shown}
    if images.shape[1] != size:  # masks at the image resolution
        factor = images.shape[1] // size
        masks = {k: m.repeat(factor, axis=1).repeat(factor, axis=2) for k, m in masks.items()}
    save_png(args.results / "masks.png", mask_grid(images, masks))
    if summary.get("merges"):
        atomic.write_text(args.results / "merges.csv", merges_csv(summary))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    metrics = {"fit_seconds": round(fit_seconds, 2), "peak_rss_megabytes": round(peak_mb, 1), "seed": seed,
               "n_pixels": int(X.shape[0]), "n_features": int(X.shape[1]),
               "n_k_values": len(extractors), "k_max": max(extractors)}
    if "n_iter" in summary:
        metrics["n_iter"] = summary["n_iter"]
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("cluster", dvc_stage=f"cluster@{args.domain}-{args.method}-{args.seed}",
                            params_md5=params_md5(base, p, domain=args.domain, method=args.method, seed=args.seed),
                            params={"base": vars(base), "cluster": vars(p), "domain": args.domain,
                                    "method": args.method, "seed_index": args.seed},
                            tags={"profile": base.profile, "domain": args.domain, "method": args.method,
                                  "seed": seed}) as mlrun:
        mlrun.log_metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        if summary.get("merges"):
            for m in summary["merges"]:
                mlrun.log_metrics({"delete_metric": m["delete_metric"], "merge_metric": m["merge_metric"]},
                                  step=m["k"])
        mlrun.log_artifact(args.results / "masks.png")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
