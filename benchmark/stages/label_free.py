"""Stage label_free: what can be said about a GAN's clusterings with no ground truth at all (for GANs nobody labelled,
such as an external pretrained one). On the feature block the clusterings were fitted on, at each K of
evaluate_clustering.report_k:
- agreement across seeds: the mean (and the lowest) ARI between the pixel labels of every pair of seeds of a method;
- agreement between methods: ARI between the seed-0 labels of every pair of methods (a heat map per K);
- KLiSH's merge curve: the merging metric of each merge against K, per seed (where the merges are recorded);
- the mask grid: the block's first images with every method's seed-0 masks at each K.
With a `pretrained` section (pipelines/pretrained), the GAN's `select_k` joins the K values.
Writes `agreement.csv`, `between_methods.png`, `merge_curve.png`, `masks.png`, `README.md` and a metrics JSON, and
logs one MLflow run."""

from __future__ import annotations

import argparse
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.params import load_section, params_md5, read_params
from benchmark.stages.cluster import mask_grid
from klish import atomic
from klish.errors import KlishError
from klish.extractor import load_extractors
from klish.features import FeatureStore
from klish.metrics import adjusted_rand_from_contingency, contingency
from klish.visualize import save_png

PARAMS = ("base", "cluster", "evaluate_clustering", "pretrained")
PREVIEW = 8


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("label_free", __doc__, {
        "features": "feature store the clusterings were fitted on",
        "clusters": "cluster output folder (<method>/s<i>/)",
        "results": "folder for the figures, agreement.csv and README.md", "metrics": "metrics JSON to write"})


def pixel_labels(clusters: Path, method: str, seed: int, ks: list[int], features: np.ndarray) -> dict[int, np.ndarray]:
    """Cluster ids [N, S, S] of the block under each K of one fitted (method, seed)."""
    path = clusters / method / f"s{seed}" / "extractors.safetensors"
    if not path.is_file():
        raise KlishError(f"{path}: not found (run the cluster stage for {method} first)")
    extractors = load_extractors(path)
    missing = [k for k in ks if k not in extractors]
    if missing:
        raise KlishError(f"{path}: no extractor for K = {', '.join(map(str, missing))} (has "
                         f"{min(extractors)}..{max(extractors)}); set cluster.k_values to include them")
    return {k: extractors[k].predict(features) for k in ks}


def ari(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index between two labellings of the same pixels."""
    return adjusted_rand_from_contingency(contingency(a, b, int(a.max()) + 1, int(b.max()) + 1))


def agreement_rows(labels: dict[str, dict[int, dict[int, np.ndarray]]], ks: list[int]) -> pd.DataFrame:
    """One row per (method, K): mean and lowest ARI over pairs of seeds."""
    rows = []
    for method, by_seed in labels.items():
        for k in ks:
            scores = [ari(by_seed[a][k], by_seed[b][k]) for a, b in itertools.combinations(sorted(by_seed), 2)]
            rows.append({"method": method, "k": k, "n_seeds": len(by_seed),
                         "seed_ari_mean": round(float(np.mean(scores)), 4) if scores else None,
                         "seed_ari_min": round(float(np.min(scores)), 4) if scores else None})
    return pd.DataFrame(rows)


def between_methods(labels: dict[str, dict[int, dict[int, np.ndarray]]], k: int) -> pd.DataFrame:
    """Symmetric ARI matrix between the methods' first-seed labels at K."""
    methods = list(labels)
    first = {m: labels[m][min(labels[m])][k] for m in methods}
    matrix = pd.DataFrame(1.0, index=methods, columns=methods)
    for a, b in itertools.combinations(methods, 2):
        matrix.loc[a, b] = matrix.loc[b, a] = round(ari(first[a], first[b]), 4)
    return matrix


def heat_maps(matrices: dict[int, pd.DataFrame]) -> np.ndarray:
    """ARI-between-methods heat maps side by side, one per K, as an RGB array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.2), squeeze=False)
    for ax, (k, matrix) in zip(axes[0], matrices.items()):
        ax.imshow(matrix.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(matrix)), matrix.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(matrix)), matrix.index, fontsize=8)
        for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=8)
        ax.set_title(f"ARI between methods, K = {k}", fontsize=9)
    return _to_array(fig)


def merge_curve(merges: dict[int, list[dict[str, Any]]]) -> np.ndarray:
    """KLiSH's merging and deletion metrics against K (one line per seed), as an RGB array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for seed, steps in sorted(merges.items()):
        ks = [m["k"] for m in steps]
        ax.plot(ks, [m["merge_metric"] for m in steps], label=f"merge metric, seed {seed}")
        ax.plot(ks, [m["delete_metric"] for m in steps], "--", label=f"delete metric, seed {seed}", alpha=0.7)
    ax.invert_xaxis()
    ax.set_xlabel("K before the merge")
    ax.set_ylabel("metric of the merged pair")
    ax.set_title("KLiSH merge curve (from K0 down to 2)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return _to_array(fig)


def _to_array(fig: Any) -> np.ndarray:
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _main(args: argparse.Namespace) -> None:
    base, p, e = load_section("base"), load_section("cluster"), load_section("evaluate_clustering")
    facts = load_section("pretrained").models.get(args.domain, {}) if "pretrained" in read_params() else {}
    ks = sorted({*e.report_k, *([facts["select_k"]] if facts.get("select_k") else [])})
    store = FeatureStore(args.features)
    n, size = len(store), store.features.shape[1]
    features = store.load().reshape(-1, store.features.shape[-1])
    labels: dict[str, dict[int, dict[int, np.ndarray]]] = {}
    merges: dict[int, list[dict[str, Any]]] = {}
    for method in p.methods:
        labels[method] = {index: pixel_labels(args.clusters, method, index, ks, features)
                          for index in range(len(p.seeds))}
        if method == "klish":
            for index in range(len(p.seeds)):
                model = json.loads((args.clusters / method / f"s{index}" / "model.json").read_text())
                merges[index] = model.get("merges", [])
    agreement = agreement_rows(labels, ks)
    matrices = {k: between_methods(labels, k) for k in ks}
    images = np.asarray(store.images[:PREVIEW])
    factor = max(1, images.shape[1] // size)
    with tracking.stage_run("label_free", dvc_stage=f"label_free@{args.domain}",
                            params_md5=params_md5(base, p, e, domain=args.domain, k_values=ks),
                            params={"base": vars(base), "cluster": vars(p), "report_k": ks, "domain": args.domain},
                            tags={"profile": base.profile, "domain": args.domain, "method": "label_free"}) as mlrun:
        with atomic.atomic_directory(args.results) as tmp:
            atomic.write_text(tmp / "agreement.csv", agreement.to_csv(index=False))
            save_png(tmp / "between_methods.png", heat_maps(matrices))
            if merges:
                save_png(tmp / "merge_curve.png", merge_curve(merges))
            grids = []
            for method in p.methods:
                shown = {k: labels[method][0][k].reshape(n, size, size)[:PREVIEW] for k in ks}
                shown = {k: m.repeat(factor, axis=1).repeat(factor, axis=2) for k, m in shown.items()}
                grids.append(mask_grid(images, shown))
            width = max(g.shape[1] for g in grids)
            save_png(tmp / "masks.png", np.concatenate(
                [np.pad(g, ((0, 6), (0, width - g.shape[1]), (0, 0)), constant_values=255) for g in grids]))
            lines = [f"# Label-free view of the clusterings: {args.domain}", "",
                     f"Features: `{args.features}` ({n} images, {size}x{size}, {store.features.shape[-1]} channels). "
                     f"Methods {', '.join(p.methods)}, {len(p.seeds)} seeds, K = {', '.join(map(str, ks))}.", "",
                     "## Agreement across seeds (ARI between pairs of seeds)", "", agreement.to_markdown(index=False),
                     ""]
            for k, matrix in matrices.items():
                lines += [f"## ARI between methods at K = {k} (seed index 0)", "", matrix.to_markdown(), ""]
            lines += ["`masks.png`: per method (in the order above), the images and the seed-0 masks at each K; "
                      "`between_methods.png`: the matrices above; `merge_curve.png`: KLiSH's merge curve.", ""]
            atomic.write_text(tmp / "README.md", "\n".join(lines))
        metrics: dict[str, Any] = {"n_images": n, "channels": int(store.features.shape[-1])}
        for row in agreement.itertuples():
            metrics[f"seed_ari_{row.method}_k{row.k}"] = row.seed_ari_mean
        for k, matrix in matrices.items():
            for a, b in itertools.combinations(matrix.index, 2):
                metrics[f"ari_{a}_vs_{b}_k{k}"] = float(matrix.loc[a, b])
        atomic.write_json(args.metrics, metrics)
        mlrun.log_metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        for name in ("masks.png", "between_methods.png", "merge_curve.png", "README.md"):
            if (args.results / name).is_file():
                mlrun.log_artifact(args.results / name)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
