"""How KLiSH's clustering quality depends on its inputs (C and its scaling, K0, the feature preparation), against
K-means at the same K and the evaluation's reference rows, on one domain's feature block and evaluation samples
(pseudo ground truth).

    python -m benchmark.analysis.klish_sensitivity --features artifacts/features/face --eval artifacts/eval/face \\
        --parser artifacts/parser/face/parser.safetensors --images 64 --k 8 16 \\
        --variants kmeans rgb probe C=5000 C=20 Crel=2000 l2+Crel=2000 --out results/analysis/klish_sensitivity_face

A variant is `+`-joined tokens: a method (`klish`, the default; `kmeans`; the floors `rgb` and `rgb_xy`, K-means on
the images' pixel colour and position; the ceiling `probe`, a supervised linear classifier against the parser's
labels of the block, which needs `--parser`), a feature preparation (`l2`: each layer's pixel vectors L2-normalised;
`std`: each channel standardised on the block; both applied to training and evaluation features alike; `layers=a,b`:
only those layers' channels, e.g. `layers=b16.1,b32.1`) and KLiSH
settings (`C=<value>` as given, `Crel=<value>` divided by the mean squared centred feature norm, `k0=<value>`).
`base` is KLiSH with the reference's C = 5000 and K0 = 100. Every row is fitted on the first `--images` images of the
store with each `--seed` (the probe with the first) and scored like evaluate_clustering; `largest_share` is the share
of the block's pixels in the largest cluster (a label-free sign of collapse).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.world import get_domain
from benchmark.report import write_table
from benchmark.stages.evaluate_clustering import evaluate
from benchmark.tasks.segmenter import load_segmenter, predict
from klish import KLiSH
from klish.cluster import KMeansExtractor
from klish.features import FeatureStore
from klish.features.pixels import pixel_features
from klish.probe import fit_linear_probe

METHODS = ("klish", "kmeans", "rgb", "rgb_xy", "probe")
PREPARATIONS = ("l2", "std")


def normalise_layers(features: np.ndarray, layers: list[dict]) -> np.ndarray:
    """Each layer's channel block of features [..., C] scaled to unit L2 norm per pixel."""
    out = np.array(features, dtype=np.float32)
    for layer in layers:
        block = out[..., layer["offset"]:layer["offset"] + layer["channels"]]
        block /= np.maximum(np.linalg.norm(block, axis=-1, keepdims=True), 1e-6)
    return out


def parse_variant(name: str) -> dict[str, Any]:
    """`+`-joined tokens -> {"method", "prep", "C", "C_scaling", "k0", "layers"}; an unknown token is an error."""
    spec: dict[str, Any] = {"method": "klish", "prep": None, "C": 5000.0, "C_scaling": "none", "k0": 100,
                            "layers": None}
    for token in name.split("+"):
        if token == "base":
            continue
        if token in METHODS:
            spec["method"] = token
        elif token in PREPARATIONS:
            spec["prep"] = token
        elif token.startswith("C="):
            spec["C"], spec["C_scaling"] = float(token[2:]), "none"
        elif token.startswith("Crel="):
            spec["C"], spec["C_scaling"] = float(token[5:]), "feature_variance"
        elif token.startswith("k0="):
            spec["k0"] = int(token[3:])
        elif token.startswith("layers="):
            spec["layers"] = token[7:].split(",")
        else:
            raise SystemExit(f"error: unknown variant token {token!r} in {name!r}")
    return spec


def select_layers(features: np.ndarray, layers: list[dict], names: list[str] | None) -> tuple[np.ndarray, list[dict]]:
    """The channels of the layers called `names` (all when None) and their layer records with offsets renumbered."""
    if names is None:
        return features, layers
    by_name = {layer["name"]: layer for layer in layers}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"error: unknown layer(s) {', '.join(unknown)} (the store has {', '.join(by_name)})")
    kept, parts, offset = [], [], 0
    for name in names:
        layer = by_name[name]
        parts.append(features[..., layer["offset"]:layer["offset"] + layer["channels"]])
        kept.append({**layer, "offset": offset})
        offset += layer["channels"]
    return np.concatenate(parts, axis=-1), kept


def prepare(features: np.ndarray, prep: str | None, block: np.ndarray, layers: list[dict]) -> np.ndarray:
    """Apply a feature preparation to features [..., C]; `std` takes its statistics from the training block."""
    if prep == "l2":
        return normalise_layers(features, layers)
    if prep == "std":
        flat = block.reshape(-1, block.shape[-1])
        return ((features - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-6)).astype(np.float32)
    return features


def run_variant(name: str, data: dict[str, Any], ks: list[int], seed: int,
                keep: dict[str, Any] | None = None) -> list[dict]:
    """Fit one variant on the block and score it at each K (the probe at its own K, the class count); `keep`, when
    given, receives the fitted `extractors` by K and the prepared `block` features [N, S, S, C']."""
    spec = parse_variant(name)
    method, n_classes = spec["method"], data["n_classes"]
    if method in ("rgb", "rgb_xy"):
        X = pixel_features(data["images"], method == "rgb_xy")
        E = pixel_features(data["eval_images"], method == "rgb_xy")
    else:
        block, layers = select_layers(data["features"], data["layers"], spec["layers"])
        E, _ = select_layers(data["eval_features"], data["layers"], spec["layers"])
        X = prepare(block, spec["prep"], block, layers)
        E = prepare(E, spec["prep"], block, layers)
    if keep is not None:
        keep["block"] = X
    X = X.reshape(-1, X.shape[-1])
    start = time.perf_counter()
    if method == "probe":
        if data["labels"] is None:
            raise SystemExit("error: the probe variant needs --parser")
        probe, _ = fit_linear_probe(X, data["labels"], n_classes, random_state=seed)
        extractors = {n_classes: probe}
    elif method == "klish":
        model = KLiSH(n_clusters=min(ks), n_init_clusters=spec["k0"], C=spec["C"], C_scaling=spec["C_scaling"],
                      random_state=seed).fit(X)
        extractors = {k: model.extractor(k) for k in ks}
    else:
        model = KMeansExtractor(min(ks), k_values=ks, random_state=seed).fit(X)
        extractors = {k: model.extractor(k) for k in ks}
    seconds = time.perf_counter() - start
    if keep is not None:
        keep["extractors"] = extractors
    rows = evaluate(extractors, E, data["truth"], n_classes, max(*ks, n_classes), data["domain"].classes)
    for row in rows:
        labels = extractors[row["k"]].predict(X)
        row["largest_share"] = float(np.bincount(labels).max() / len(labels))
    return [{"variant": name, **row, "fit_seconds": round(seconds, 1)} for row in rows]


def load_data(args: argparse.Namespace) -> dict[str, Any]:
    """The block (features, images, parser labels), the evaluation samples and the domain's class count."""
    store = FeatureStore(args.features)
    domain = get_domain(args.domain or store.manifest["generator"]["domain"])
    eval_store = FeatureStore(args.eval / "features")
    images = np.asarray(store.images[:args.images])
    labels = None
    if args.parser is not None:
        parser, _ = load_segmenter(args.parser)
        labels = predict(parser, images).reshape(-1)
    return {"domain": domain, "n_classes": len(domain.classes), "layers": store.layers, "images": images,
            "features": np.asarray(store.features[:args.images], dtype=np.float32), "labels": labels,
            "eval_features": np.asarray(eval_store.features, dtype=np.float32),
            "eval_images": np.asarray(eval_store.images),
            "truth": np.load(args.eval / "pseudo_gt.npy", allow_pickle=False)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", required=True, type=Path, help="feature store folder")
    parser.add_argument("--eval", required=True, type=Path, help="evaluation samples folder (sample_eval output)")
    parser.add_argument("--parser", type=Path, default=None, help="parser .safetensors (for the probe variant)")
    parser.add_argument("--domain", default=None, help="world domain (default: the store's)")
    parser.add_argument("--images", type=int, default=64, help="images of the store to cluster")
    parser.add_argument("--k", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--variants", nargs="+", default=["base", "kmeans", "C=500", "C=50000", "k0=50", "l2"])
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="one fit per seed (the probe: the first)")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    for name in args.variants:
        parse_variant(name)  # fail on a typo before any fit
    data = load_data(args)
    rows = []
    for name in args.variants:
        for seed in args.seed[:1] if parse_variant(name)["method"] == "probe" else args.seed:
            new = [{"seed": seed, **row} for row in run_variant(name, data, args.k, seed)]
            print(pd.DataFrame(new).round(4).to_string(index=False, header=not rows), flush=True)
            rows += new
    table = pd.DataFrame(rows).round(4)
    if args.out:
        write_table(args.out, f"KLiSH sensitivity ({data['domain'].name})", "benchmark.analysis.klish_sensitivity",
                    argv, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
