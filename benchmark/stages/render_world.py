"""Stage render_world: render the procedural world of one domain into datasets/world/<domain>/ (train and test
shards, manifest, dataset card, preview grid) and a small metrics JSON."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.data.world.render import render_world
from benchmark.params import load_section, params_md5
from klish import atomic

PARAMS = ("base", "render_world")
SEED_OFFSET = 0


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("render_world", __doc__, {"out": "dataset folder to write", "metrics": "metrics JSON to write"})


def _main(args: argparse.Namespace) -> None:
    spec = get_domain(args.domain)
    base, p = load_section("base"), load_section("render_world")
    seed = base.seed + SEED_OFFSET
    start = time.perf_counter()
    render_world(args.domain, args.out, seed=seed, resolution=p.resolution, n_train=p.n_train,
                 n_test=p.n_test, supersample=p.supersample, shard_size=p.shard_size, workers=p.workers,
                 appearance=p.appearance)
    seconds = time.perf_counter() - start
    masks = shards.read_split(args.out, "test", "masks")
    share = np.bincount(masks.ravel(), minlength=len(spec.classes)) / masks.size
    metrics = {"wall_seconds": round(seconds, 2), "seed": seed, "n_train": p.n_train, "n_test": p.n_test,
               "resolution": p.resolution, "appearance": p.appearance,
               "class_share_test": {name: round(float(s), 5) for name, s in zip(spec.classes, share)}}
    atomic.write_json(args.metrics, metrics)
    with tracking.stage_run("render_world", dvc_stage=f"render_world@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain),
                            params={"base": vars(base), "render_world": vars(p), "domain": args.domain},
                            tags={"profile": base.profile, "domain": args.domain, "seed": seed}) as mlrun:
        mlrun.log_metrics({"wall_seconds": seconds, **{f"class_share.{k}": v for k, v in
                                                       metrics["class_share_test"].items()}})
        mlrun.log_artifact(Path(args.out) / "preview.png")
        mlrun.log_artifact(Path(args.out) / "README.md")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
