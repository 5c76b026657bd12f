"""Time and peak memory of KLiSH fits (fast and reference solvers) on a feature block from a feature store.

Each fit runs in a fresh subprocess (ru_maxrss is a process-lifetime peak); the reference solver can be capped by
a time limit, in which case its row says so and its speed ratio is a lower bound. Writes Markdown and CSV:

    python -m benchmark.perf.klish_fit --store artifacts/features/face --images 256 --k0 100 \\
        --solvers fast reference --limit 1800 --out results/perf/klish_fit
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from klish import atomic

_CHILD = """
import json, resource, sys, time, warnings
import numpy as np
from klish import FeatureStore, KLiSH
store_path, images, k0, solver, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
store = FeatureStore(store_path)
X = np.asarray(store.features[:images], dtype=np.float32).reshape(-1, store.features.shape[-1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = KLiSH(n_clusters=2, n_init_clusters=k0, solver=solver, random_state=seed).fit(X)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"solver": solver, "pixels": X.shape[0], "channels": X.shape[1], "k0": k0,
                  "seconds": seconds, "peak_mb": peak / 1024, "fit_growth_mb": (peak - base) / 1024,
                  "block_mb": X.nbytes / 2**20, "n_iter": int(model.n_iter_), "warnings": len(caught),
                  "merges": [r["merged"] for r in model.merge_history_[:-1]]}))
"""


def measure(store: str, images: int, k0: int, solver: str, seed: int, limit: float) -> dict:
    """One fit in a child process; a fit that outlives `limit` seconds is reported as timed out."""
    cmd = [sys.executable, "-c", _CHILD, store, str(images), str(k0), solver, str(seed)]
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"solver": solver, "k0": k0, "seconds": time.perf_counter() - start, "timed_out": True}
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["timed_out"] = False
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="feature store folder (artifacts/features/<domain>)")
    parser.add_argument("--images", type=int, default=256, help="images of the store in the block")
    parser.add_argument("--k0", type=int, default=100, help="initial K-means clusters")
    parser.add_argument("--solvers", nargs="+", default=["fast", "reference"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds before a fit is stopped")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    rows = [measure(args.store, args.images, args.k0, s, args.seed, args.limit) for s in args.solvers]
    fast = next((r for r in rows if r["solver"] == "fast" and not r["timed_out"]), None)
    for r in rows:
        if fast and r["solver"] != "fast":
            bound = ">=" if r["timed_out"] else ""
            r["speed_ratio"] = f"{bound}{r['seconds'] / fast['seconds']:.1f}"
            if not r["timed_out"] and "merges" in r:
                same = sum(a == b for a, b in zip(r["merges"], fast["merges"]))
                r["same_merges"] = f"{same}/{len(fast['merges'])}"
    table = pd.DataFrame(rows).drop(columns=["merges"], errors="ignore").round(2)
    print(table.to_string(index=False))
    if args.out:
        atomic.write_text(args.out.with_suffix(".csv"), table.to_csv(index=False))
        command = "python -m benchmark.perf.klish_fit " + " ".join(sys.argv[1:] if argv is None else argv)
        atomic.write_text(args.out.with_suffix(".md"), f"# KLiSH fit cost\n\n`{command}`\n\n"
                          + table.to_markdown(index=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
