"""How KLiSH's clustering quality depends on its inputs: C, K0, the feature normalisation and the initialisation,
against K-means at the same K, on one domain's feature block and evaluation samples (pseudo ground truth).

    python -m benchmark.analysis.klish_sensitivity --features artifacts/features/face --eval artifacts/eval/face \\
        --images 64 --k 8 16 --variants base C=500 C=50000 k0=50 l2 --out results/analysis/klish_sensitivity_face

Variants: `base` (the params of the default profile), `C=<value>`, `k0=<value>`, `l2` (each layer's pixel vectors
L2-normalised before clustering, in training and evaluation alike), `kmeans` (the K-means baseline). Every row is
fitted on the first `--images` images of the store with the same seed and scored like evaluate_clustering.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.world import get_domain
from benchmark.report import write_table
from benchmark.stages.evaluate_clustering import evaluate
from klish import KLiSH
from klish.cluster import KMeansExtractor
from klish.features import FeatureStore


def normalise_layers(features: np.ndarray, layers: list[dict]) -> np.ndarray:
    """Each layer's channel block of features [..., C] scaled to unit L2 norm per pixel."""
    out = np.array(features, dtype=np.float32)
    for layer in layers:
        block = out[..., layer["offset"]:layer["offset"] + layer["channels"]]
        block /= np.maximum(np.linalg.norm(block, axis=-1, keepdims=True), 1e-6)
    return out


def run_variant(name: str, X: np.ndarray, eval_features: np.ndarray, truth: np.ndarray, n_classes: int,
                ks: list[int], seed: int, layers: list[dict]) -> list[dict]:
    """Fit one variant and score it at each K."""
    kwargs = {"n_clusters": min(ks), "n_init_clusters": 100, "C": 5000.0, "random_state": seed}
    if name == "l2":
        X, eval_features = normalise_layers(X, layers), normalise_layers(eval_features, layers)
    elif name.startswith("C="):
        kwargs["C"] = float(name[2:])
    elif name.startswith("k0="):
        kwargs["n_init_clusters"] = int(name[3:])
    elif name not in ("base", "kmeans"):
        raise SystemExit(f"error: unknown variant {name!r}")
    start = time.perf_counter()
    model = (KMeansExtractor(min(ks), k_values=ks, random_state=seed) if name == "kmeans" else KLiSH(**kwargs)).fit(X)
    seconds = time.perf_counter() - start
    extractors = {k: model.extractor(k) for k in ks}
    rows = evaluate(extractors, eval_features, truth, n_classes, max(ks))
    return [{"variant": name, **row, "fit_seconds": round(seconds, 1)} for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, type=Path, help="feature store folder")
    parser.add_argument("--eval", required=True, type=Path, help="evaluation samples folder (sample_eval output)")
    parser.add_argument("--domain", default=None, help="world domain (default: the store's)")
    parser.add_argument("--images", type=int, default=64, help="images of the store to cluster")
    parser.add_argument("--k", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--variants", nargs="+", default=["base", "kmeans", "C=500", "C=50000", "k0=50", "l2"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    store = FeatureStore(args.features)
    domain = get_domain(args.domain or store.manifest["generator"]["domain"])
    X = np.asarray(store.features[:args.images], dtype=np.float32).reshape(-1, store.features.shape[-1])
    eval_features = np.asarray(FeatureStore(args.eval / "features").features, dtype=np.float32)
    truth = np.load(args.eval / "pseudo_gt.npy", allow_pickle=False)
    rows = []
    for name in args.variants:
        rows += run_variant(name, X, eval_features, truth, len(domain.classes), args.k, args.seed, store.layers)
    table = pd.DataFrame(rows).round(4)
    print(table.to_string(index=False))
    if args.out:
        write_table(args.out, f"KLiSH sensitivity ({domain.name})", "benchmark.analysis.klish_sensitivity", argv, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
