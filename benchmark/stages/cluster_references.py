"""Stage cluster_references: the reference rows of one domain's clustering evaluation, scored exactly as
evaluate_clustering scores KLiSH and the baselines (same evaluation samples, same pseudo ground truth, same K):

- floor `rgb`: K-means on the generated images' own pixel colours; `rgb_xy`: colour plus pixel position. Fit on the
  clustering block's images with every seed of `cluster.seeds`. A method on generator features that does not beat
  them has found nothing the image did not already show.
- ceiling `probe`: a supervised linear classifier on the same generator features, trained on the clustering block
  labelled by the parser (the predecessor paper's linear semantic extractor). One fit (it has no seed); its K is the
  domain's class count. It is the best a linear extractor on these features reaches with labels.

Writes per method what the cluster and evaluate_clustering stages write: extractors per K and model.json under
artifacts/references/<domain>/<method>/s<i>/, and under results/cluster_references/<domain>/ a metrics JSON per
method with one entry per seed ({"s0": {...}}), curves/<method>_s<i>.csv (every K) and masks.png (the evaluation
images, the pseudo ground truth, and each reference's masks)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.world import get_domain
from benchmark.params import load_section, params_md5
from benchmark.stages.evaluate_clustering import COLUMNS, curves_csv, evaluate, seed_metrics
from benchmark.tasks.segmenter import load_segmenter, predict
from klish import atomic
from klish.cluster import KMeansExtractor
from klish.errors import KlishError
from klish.extractor import LinearExtractor, save_extractors
from klish.features import FeatureStore
from klish.features.pixels import pixel_features
from klish.probe import fit_linear_probe
from klish.visualize import cluster_palette, image_grid, overlay, save_png

PARAMS = ("base", "cluster", "evaluate_clustering", "cluster_references")
SEED_OFFSET = 300  # the cluster stage's: a floor row with seed index i uses the same seed as K-means with index i
FLOORS = {"rgb": False, "rgb_xy": True}  # method -> pixel position appended to the colour
CEILING = "probe"
CEILING_SEED = 0  # the probe has no seed: one fit, stored as seed index 0
METHODS = (*FLOORS, CEILING)
ROLE = {**{m: "floor" for m in FLOORS}, CEILING: "ceiling"}  # the readers (table, leaderboard) label rows with it
PREVIEW = 8


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("cluster_references", __doc__, {
        "features": "the clustered feature store (its images and features are the training pixels)",
        "eval": "evaluation samples folder (features/ + pseudo_gt.npy)",
        "parser": "parser .safetensors (labels the clustering block for the probe)",
        "out": "folder for <method>/s<seed>/ extractors and model.json",
        "results": "folder for <method>.json (metrics of every seed), curves/<method>_s<seed>.csv and masks.png"})


def fit_floor(images: np.ndarray, position: bool, k_values: list[int], preview_k: int, max_iter: int,
              seed: int) -> dict[int, LinearExtractor]:
    """K-means on pixel colours (and position) of images [N, H, W, 3]: an extractor on pixel features per K."""
    X = pixel_features(images, position).reshape(-1, 5 if position else 3)
    model = KMeansExtractor(preview_k, k_values=k_values, max_iter=max_iter, random_state=seed).fit(X)
    return {k: model.extractor(k) for k in model.k_values_}


def fit_ceiling(features: np.ndarray, labels: np.ndarray, n_classes: int, C: float, max_iter: int,
                seed: int) -> tuple[dict[int, LinearExtractor], int]:
    """The supervised linear probe on generator features [P, C] against parser labels [P]: {n_classes: extractor}
    and its solver iterations."""
    probe, n_iter = fit_linear_probe(features, labels, n_classes, C=C, max_iter=max_iter, random_state=seed)
    return {n_classes: probe}, n_iter


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    n_classes = len(domain.classes)
    base, cp = load_section("base"), load_section("cluster")
    ep, rp = load_section("evaluate_clustering"), load_section("cluster_references")
    store, eval_store = FeatureStore(args.features), FeatureStore(args.eval / "features")
    gt_path = args.eval / "pseudo_gt.npy"
    if not gt_path.is_file():
        raise KlishError(f"{gt_path}: pseudo ground truth not found (run sample_eval first)")
    truth = np.load(gt_path, allow_pickle=False)
    images, eval_images = np.asarray(store.images), np.asarray(eval_store.images)
    # the colour floor labels image pixels, scored against masks at the image resolution
    if images.shape[1] != store.features.shape[1]:
        raise KlishError(f"{args.features}: images are {images.shape[1]}px but features {store.features.shape[1]}px;"
                         f" the colour floor needs them at one resolution")
    if eval_images.shape[1:3] != truth.shape[1:3]:
        raise KlishError(f"{gt_path}: masks are {truth.shape[1]}px but the evaluation images {eval_images.shape[1]}px")
    parser, parser_info = load_segmenter(args.parser)
    block_labels = predict(parser, images).reshape(-1)  # the parser's labels of the clustering block
    features = store.load().reshape(-1, store.features.shape[-1])
    eval_features = eval_store.load()
    eval_inputs = {"rgb": pixel_features(eval_images), "rgb_xy": pixel_features(eval_images, position=True),
                   CEILING: eval_features}
    preview: dict[str, np.ndarray] = {}
    with atomic.atomic_directory(args.out) as out, atomic.atomic_directory(args.results) as results:
        for method in METHODS:
            all_metrics: dict[str, dict[str, Any]] = {}
            seeds = [CEILING_SEED] if method == CEILING else list(cp.seeds)
            for index in seeds:
                seed = base.seed + SEED_OFFSET + index
                start = time.perf_counter()
                n_iter = None
                if method == CEILING:
                    extractors, n_iter = fit_ceiling(features, block_labels, n_classes, rp.probe_C,
                                                     rp.probe_max_iter, seed)
                else:
                    extractors = fit_floor(images, FLOORS[method], list(cp.k_values), cp.preview_k,
                                           cp.kmeans_max_iter, seed)
                fit_seconds = time.perf_counter() - start
                start = time.perf_counter()
                rows = evaluate(extractors, eval_inputs[method], truth, n_classes, max(ep.k_max, n_classes))
                report_k = [n_classes] if method == CEILING else list(ep.report_k)
                metrics = seed_metrics(rows, report_k, seed=seed, n_samples=len(truth), reference=ROLE[method],
                                       input="generator features" if method == CEILING else method,
                                       parser_miou_real=parser_info.get("miou_real"),
                                       fit_seconds=round(fit_seconds, 2),
                                       eval_seconds=round(time.perf_counter() - start, 2),
                                       **({"n_iter": n_iter} if n_iter is not None else {}))
                all_metrics[f"s{index}"] = metrics
                info = {"method": method, "seed": seed, "domain": args.domain, "reference": ROLE[method],
                        "features": str(args.features), "input": metrics["input"],
                        "generator_sha256": store.manifest.get("generator", {}).get("sha256")}
                (out / method / f"s{index}").mkdir(parents=True)
                save_extractors(out / method / f"s{index}" / "extractors.safetensors", extractors, info)
                atomic.write_json(out / method / f"s{index}" / "model.json", {**info, "k_values": sorted(extractors)})
                curves = results / "curves" / f"{method}_s{index}.csv"
                curves.parent.mkdir(exist_ok=True)
                atomic.write_text(curves, curves_csv(rows))
                log_seed_run(args, (base, cp, rp), method, index, seed, rows, metrics, curves)
                if index == seeds[0]:
                    k_shown = n_classes if method == CEILING else cp.preview_k
                    preview[method] = extractors[k_shown].predict(eval_inputs[method][:PREVIEW])
            atomic.write_json(results / f"{method}.json", all_metrics)
        save_png(results / "masks.png", masks_grid(eval_images[:PREVIEW], truth[:PREVIEW], preview, domain.palette))


def masks_grid(images: np.ndarray, truth: np.ndarray, masks: dict[str, np.ndarray],
               palette: list[tuple[int, int, int]]) -> np.ndarray:
    """Rows: evaluation images, the parser's pseudo ground truth, then each reference's masks over the images."""
    scale = max(1, 64 // images.shape[1])
    rows = [image_grid(images, len(images), scale=scale),
            image_grid(overlay(images, truth, palette, alpha=0.6), len(images), scale=scale)]
    for method, mask in masks.items():
        colours = palette if method == CEILING else cluster_palette(int(mask.max()) + 1)
        rows.append(image_grid(overlay(images, mask, colours, alpha=0.6), len(images), scale=scale))
    return np.concatenate(rows)


def log_seed_run(args: argparse.Namespace, sections: tuple[Any, Any, Any], method: str, index: int, seed: int,
                 rows: list[dict[str, float]], metrics: dict[str, Any], curves: Path) -> None:
    """One MLflow run per (reference, seed) in the evaluate_clustering experiment, tagged as a reference."""
    base, cp, rp = sections
    with tracking.stage_run("evaluate_clustering", dvc_stage=f"cluster_references@{args.domain}",
                            params_md5=params_md5(base, cp, rp, domain=args.domain, method=method, seed=index),
                            params={"base": vars(base), "cluster": vars(cp), "cluster_references": vars(rp),
                                    "domain": args.domain, "method": method, "seed_index": index},
                            tags={"profile": base.profile, "domain": args.domain, "method": method, "seed": seed,
                                  "reference": ROLE[method]}) as mlrun:
        for row in rows:
            mlrun.log_metrics({c: row[c] for c in COLUMNS[1:]}, step=row["k"])
        mlrun.log_metrics({k: v for k, v in metrics.items() if k.endswith("seconds")})
        mlrun.log_artifact(curves)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
