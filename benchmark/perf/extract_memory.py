"""Peak memory of feature extraction against the size of the store it writes.

Claim (issue 2): extraction streams batches into a memory-mapped store, so peak resident memory grows by about the
store size plus one batch, never several copies. Each measurement runs in a fresh subprocess (ru_maxrss is a
process-lifetime peak):

    python -m benchmark.perf.extract_memory --samples 256 1024 --size 32
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

_CHILD = """
import json, resource, sys, time, torch
from klish import build_generator, extract_features
n, size, batch, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
g = build_generator("dcgan", z_dim=64, width=24, resolution=32, upsample="nearest").eval()
with torch.no_grad():
    g(torch.zeros(batch, 64))  # warm up allocator and kernels before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
manifest = extract_features(g, out, n_samples=n, seed=0, size=size, batch_size=batch, progress=False)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = n * size * size * manifest["channels"] * 2
print(json.dumps({"n_samples": n, "size": size, "batch": batch, "channels": manifest["channels"],
                  "store_mb": store / 2**20, "baseline_mb": base / 1024, "peak_mb": peak / 1024,
                  "growth_mb": (peak - base) / 1024, "seconds": seconds}))
"""


def measure(n: int, size: int, batch: int) -> dict:
    """Run one extraction in a child process and return its memory and time figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(size), str(batch), f"{tmp}/store"],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = [measure(n, args.size, args.batch) for n in args.samples]
    print(f"{'samples':>8} {'channels':>8} {'store MB':>9} {'growth MB':>10} {'growth/store':>12} {'seconds':>8}")
    for r in rows:
        print(f"{r['n_samples']:>8} {r['channels']:>8} {r['store_mb']:>9.1f} {r['growth_mb']:>10.1f} "
              f"{r['growth_mb'] / r['store_mb']:>12.2f} {r['seconds']:>8.1f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
