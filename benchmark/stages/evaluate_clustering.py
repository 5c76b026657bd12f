"""Stage evaluate_clustering: score the clusterings of one (domain, method), every seed the cluster stage wrote, on
the domain's evaluation samples against the parser's pseudo ground truth (spec section 4.2): for every K, the pooled
contingency table gives ARI, AMI and NMI, and the per-image tables give mIoU under the greedy many-to-one cluster ->
class mapping. Metric names end in `_pseudo` because the parser, not an exact mask, is the ground truth; its own
accuracy on real images is reported beside them (`parser_miou_real`). Per seed: `s<seed>/curves.csv` (every K);
one metrics JSON for all seeds ({"s0": {...}, ...}); one MLflow run per seed."""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.world import get_domain
from benchmark.json_inputs import read_json
from benchmark.params import CLUSTER_METHODS, load_section, params_md5
from klish import atomic
from klish.errors import KlishError
from klish.extractor import LinearExtractor, load_extractors
from klish.features import FeatureStore
from klish.metrics import agreement_scores, greedy_mapping, mapped_iou, per_image_contingency

PARAMS = ("base", "evaluate_clustering")
COLUMNS = ("k", "ari_pseudo", "ami_pseudo", "nmi_pseudo", "miou_pseudo")


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("evaluate_clustering", __doc__, {
        "eval": "evaluation samples folder (features/ + pseudo_gt.npy)",
        "clustering": "cluster stage output folder (one s<seed>/ per seed)",
        "results": "folder for s<seed>/curves.csv", "metrics": "metrics JSON of every seed"},
        CLUSTER_METHODS, per_seed=False)


def seed_folders(clustering: Path) -> list[Path]:
    """The s<index> folders of a cluster stage output, by index; none is an error naming the folder."""
    folders = [f for f in clustering.glob("s*") if f.is_dir() and f.name[1:].isdigit()] if clustering.is_dir() else []
    if not folders:
        raise KlishError(f"{clustering}: no s<seed> clustering folders (run the cluster stage first)")
    return sorted(folders, key=lambda f: int(f.name[1:]))


def evaluate(extractors: dict[int, LinearExtractor], features: np.ndarray, truth: np.ndarray, n_classes: int,
             k_max: int, class_names: Sequence[str] | None = None) -> list[dict[str, float]]:
    """One row of scores per K (2..k_max) that the method has; with `class_names`, also each class's mapped IoU."""
    rows = []
    for k in sorted(extractors):
        if not 2 <= k <= k_max:
            continue
        pred = extractors[k].predict_masks(features, truth.shape[1])
        table = per_image_contingency(truth, pred, n_classes, extractors[k].n_clusters)
        agreement = agreement_scores(table.sum(axis=0))
        iou = mapped_iou(table, greedy_mapping(table))
        rows.append({"k": k, "ari_pseudo": agreement["ari"], "ami_pseudo": agreement["ami"],
                     "nmi_pseudo": agreement["nmi"], "miou_pseudo": float(iou.mean()),
                     **{f"iou_{name}": float(v) for name, v in zip(class_names or (), iou)}})
    return rows


def seed_metrics(rows: list[dict[str, float]], report_k: list[int], **extra: Any) -> dict[str, Any]:
    """One seed's entry of the metrics JSON: each score at the reported K values ({"k8": ...}), plus `extra`."""
    by_k = {row["k"]: row for row in rows}
    metrics: dict[str, Any] = {name: {f"k{k}": round(by_k[k][name], 6) for k in report_k if k in by_k}
                               for name in COLUMNS[1:]}
    metrics["k_evaluated"] = [row["k"] for row in rows]
    metrics.update(extra)
    return metrics


def curves_csv(rows: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: (row[c] if c == "k" else round(row[c], 6)) for c in COLUMNS})
    return buffer.getvalue()


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    base, p = load_section("base"), load_section("evaluate_clustering")
    store = FeatureStore(args.eval / "features")
    gt_path = args.eval / "pseudo_gt.npy"
    if not gt_path.is_file():
        raise KlishError(f"{gt_path}: pseudo ground truth not found (run sample_eval first)")
    truth = np.load(gt_path, allow_pickle=False)
    parser_info = read_json(args.eval / "info.json", "not found (run sample_eval first)").get("parser", {})
    folders = seed_folders(args.clustering)
    features = store.load()  # converted once, not once per K and seed
    all_metrics: dict[str, dict] = {}
    with atomic.atomic_directory(args.results) as results:
        for folder in folders:
            extractors = load_extractors(folder / "extractors.safetensors")
            model_info = read_json(folder / "model.json", "not found (re-run the cluster stage)")
            start = time.perf_counter()
            rows = evaluate(extractors, features, truth, len(domain.classes), p.k_max)
            if not rows:
                raise KlishError(f"{folder}: no K in 2..{p.k_max} to evaluate")
            metrics = seed_metrics(rows, p.report_k, seed=model_info["seed"], n_samples=len(truth),
                                   parser_miou_real=parser_info["miou_real"],
                                   eval_seconds=round(time.perf_counter() - start, 2))
            all_metrics[folder.name] = metrics
            (results / folder.name).mkdir()
            atomic.write_text(results / folder.name / "curves.csv", curves_csv(rows))
            log_seed_run(args, base, p, int(folder.name[1:]), model_info["seed"], rows,
                         results / folder.name / "curves.csv")
        atomic.write_json(args.metrics, all_metrics)


def log_seed_run(args: argparse.Namespace, base: Any, p: Any, index: int, seed: int, rows: list[dict[str, float]],
                 curves: Path) -> None:
    """One MLflow run per seed: every score as a metric stepped by K, and the curves as an artifact."""
    with tracking.stage_run("evaluate_clustering", dvc_stage=f"evaluate_clustering@{args.domain}-{args.method}",
                            params_md5=params_md5(base, p, domain=args.domain, method=args.method, seed=index),
                            params={"base": vars(base), "evaluate_clustering": vars(p), "domain": args.domain,
                                    "method": args.method, "seed_index": index},
                            tags={"profile": base.profile, "domain": args.domain, "method": args.method,
                                  "seed": seed}) as mlrun:
        for row in rows:
            mlrun.log_metrics({c: row[c] for c in COLUMNS[1:]}, step=row["k"])
        mlrun.log_artifact(curves)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
