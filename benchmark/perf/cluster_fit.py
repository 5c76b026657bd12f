"""Time and peak memory of clustering fits on one feature block from a feature store: KLiSH with the fast and the
reference solver (K0 down to 2) and each baseline (at the given K values).

Each fit runs in a fresh subprocess (ru_maxrss is a process-lifetime peak); a fit can be capped by a time limit, in
which case its row says so and its speed ratio against the fast solver is a lower bound. Writes Markdown and CSV:

    python -m benchmark.perf.cluster_fit --store artifacts/features/face --images 256 --k0 100 \\
        --methods klish_fast kmeans ahc_ward --limit 1800 --out results/perf/cluster_fit
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmark.report import write_table

METHODS = ("klish_fast", "klish_reference", "kmeans", "kmeans_arccos", "ahc_ward", "ahc_cosine", "kasp")

_CHILD = """
import json, resource, sys, time, warnings
import numpy as np
from klish import FeatureStore, KLiSH
from klish.cluster import AHCExtractor, KASPExtractor, KMeansExtractor
store_path, images, k0, method, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ks = [int(k) for k in sys.argv[6].split(",")]
store = FeatureStore(store_path)
X = np.asarray(store.features[:images], dtype=np.float32).reshape(-1, store.features.shape[-1])
models = {
    "klish_fast": lambda: KLiSH(n_clusters=2, n_init_clusters=k0, solver="fast", random_state=seed),
    "klish_reference": lambda: KLiSH(n_clusters=2, n_init_clusters=k0, solver="reference", random_state=seed),
    "kmeans": lambda: KMeansExtractor(ks[0], k_values=ks, random_state=seed),
    "kmeans_arccos": lambda: KMeansExtractor(ks[0], k_values=ks, metric="arccos", random_state=seed),
    "ahc_ward": lambda: AHCExtractor(ks[0], k_values=ks, linkage="ward", random_state=seed),
    "ahc_cosine": lambda: AHCExtractor(ks[0], k_values=ks, linkage="average", random_state=seed),
    "kasp": lambda: KASPExtractor(ks[0], k_values=ks, n_centroids=k0, random_state=seed),
}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = models[method]().fit(X)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
klish = isinstance(model, KLiSH)
print(json.dumps({"method": method, "pixels": X.shape[0], "channels": X.shape[1],
                  "k_values": f"{k0}..2" if klish else ",".join(map(str, ks)),
                  "seconds": seconds, "peak_mb": peak / 1024, "fit_growth_mb": (peak - base) / 1024,
                  "block_mb": X.nbytes / 2**20, "n_iter": int(model.n_iter_) if klish else None,
                  "warnings": len(caught),
                  "merges": [r["merged"] for r in model.merge_history_[:-1]] if klish else None}))
"""


def measure(store: str, images: int, k0: int, method: str, seed: int, k_values: list[int], limit: float) -> dict:
    """One fit in a child process; a fit that outlives `limit` seconds is reported as timed out."""
    cmd = [sys.executable, "-c", _CHILD, store, str(images), str(k0), method, str(seed), ",".join(map(str, k_values))]
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"method": method, "seconds": time.perf_counter() - start, "timed_out": True}
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["timed_out"] = False
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="feature store folder (artifacts/features/<domain>)")
    parser.add_argument("--images", type=int, default=256, help="images of the store in the block")
    parser.add_argument("--k0", type=int, default=100, help="initial K-means clusters")
    parser.add_argument("--methods", nargs="+", default=["klish_fast", "klish_reference"], choices=METHODS)
    parser.add_argument("--k-values", nargs="+", type=int, default=[4, 6, 8, 10, 12, 16, 20, 30],
                        help="K values fitted by the baselines (KLiSH records every K from K0 down to 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds before a fit is stopped")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    rows = [measure(args.store, args.images, args.k0, m, args.seed, args.k_values, args.limit) for m in args.methods]
    fast = next((r for r in rows if r["method"] == "klish_fast" and not r["timed_out"]), None)
    for r in rows:
        if fast and r["method"] == "klish_reference":
            bound = ">=" if r["timed_out"] else ""
            r["speed_ratio"] = f"{bound}{r['seconds'] / fast['seconds']:.1f}"
            if not r["timed_out"] and r.get("merges"):
                same = sum(a == b for a, b in zip(r["merges"], fast["merges"]))
                r["same_merges"] = f"{same}/{len(fast['merges'])}"
    table = pd.DataFrame(rows).drop(columns=["merges"], errors="ignore").round(2)
    print(table.to_string(index=False))
    if args.out:
        write_table(args.out, "Clustering fit cost", "benchmark.perf.cluster_fit", argv, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
