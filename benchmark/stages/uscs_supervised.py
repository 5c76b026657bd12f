"""Stage uscs_supervised: the USCS upper bound. The same network, settings and scoring as stage uscs, trained on the
world's real train images with their true masks (the first `make_dataset.n_samples`, as many pairs as a synthetic
dataset has) and painting the real test images' true masks; the supervised UFS network checks mask consistency."""

from __future__ import annotations

import argparse

from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import load_section
from benchmark.stages.fid_reference import first_images
from benchmark.stages.uscs import SEED_OFFSET, UscsCell, load_segmenter_for, train_and_score

PARAMS = ("base", "uscs", "fid", "make_dataset.n_samples")
METHOD = "supervised"


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("uscs_supervised", __doc__, {
        "world": "world dataset folder (real train and test splits)",
        "ufs": "folder of the supervised UFS network (network.safetensors + .json)",
        "reference": "folder of the fid_reference feature tables (test.npy)",
        "out": "folder for generator.safetensors (+ .json)",
        "results": "folder for metrics.json, losses.csv, triplets.png"})


def _main(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    k = len(domain.classes)
    f, n_pairs = load_section("fid"), load_section("make_dataset").n_samples
    real = first_images(args.world, "test", f.n_samples)
    cell = UscsCell(images=shards.read_split(args.world, "train", "images")[:n_pairs],
                    masks=shards.read_split(args.world, "train", "masks", n_ids=k)[:n_pairs], k=k,
                    eval_masks=shards.read_split(args.world, "test", "masks", n_ids=k)[:f.n_samples], real=real,
                    segmenter=load_segmenter_for(args.ufs / "network.safetensors", k),
                    palette=list(domain.palette), trained_on=f"{args.world} (train split, true masks)")
    train_and_score(args, cell, method=METHOD, seed=load_section("base").seed + SEED_OFFSET,
                    dvc_stage=f"uscs_supervised@{args.domain}", extra_md5={"domain": args.domain, "method": METHOD})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
