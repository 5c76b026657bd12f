"""Write one file of every format the suite writes, through the suite's own writers, into the folder given: run by
tests/test_byte_determinism.py in two processes (different hash seeds) whose outputs must be byte-identical."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main(out: Path) -> None:
    from benchmark import leaderboard as lb
    from benchmark.data.shards import write_shard
    from klish import atomic
    from klish.extractor import LinearExtractor, save_extractors
    from klish.features import extract_features
    from klish.generators import build_generator, save_checkpoint
    from klish.tensor_files import save_tensors
    from klish.visualize import save_png

    torch.manual_seed(0)
    generator = build_generator("dcgan", z_dim=8, width=4, resolution=32, upsample="nearest").eval()
    meta = {f"key{i}": str(i) for i in range(12)}  # enough keys for hash order to show
    save_checkpoint(out / "generator.safetensors", generator, arch="dcgan", role="generator",
                    kwargs={"z_dim": 8, "width": 4, "resolution": 32, "upsample": "nearest"}, **meta)
    save_tensors(out / "numpy.safetensors", {"b": np.arange(6.0), "a": np.ones((2, 2), np.float32)}, meta)
    save_tensors(out / "torch.safetensors", {"b": torch.arange(6.0), "a": torch.ones(2, 2)}, meta)
    rng = np.random.default_rng(0)
    extractors = {k: LinearExtractor(rng.normal(size=(k, 5)).astype(np.float32), np.zeros(k, np.float32))
                  for k in (3, 4)}
    save_extractors(out / "extractors.safetensors", extractors, {"seed": 1, "method": "klish", **meta})
    extract_features(generator, out / "store", n_samples=2, seed=1, size=8, progress=False)  # npy memmaps + JSON
    atomic.write_json(out / "metrics.json", {"z": 1, "a": {"y": 2.5, "b": [1, 2]}, **meta})
    write_shard(out / "masks-00000.npz", rng.integers(0, 4, size=(3, 8, 8), dtype=np.uint8))
    save_png(out / "grid.png", rng.integers(0, 255, size=(16, 24, 3), dtype=np.uint8))
    block = pd.DataFrame({"domain": ["face", "car"] * 2, "method": ["klish"] * 2 + ["kmeans"] * 2,
                          "mean": [0.5, 0.4, 0.3, 0.2], "std": [0.01, 0.02, 0.03, 0.04]})
    atomic.write_bytes(out / "chart.png", lb.bar_chart(block, "ari"))
    atomic.write_text(out / "table.csv", block.to_csv(index=False))
    with atomic.atomic_directory(out / "folder") as folder:
        (folder / "inner.txt").write_text("x")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
