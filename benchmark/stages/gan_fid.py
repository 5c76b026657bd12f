"""Stage gan_fid: FID/KID of a domain's GAN, `fid.n_samples` unconditional samples (latent seed `fid.gan_seed`,
no truncation) against the real images: its own training images (`..._train`, the usual score of a GAN) and the
real test images (the protocol of the USCS rows, so the GAN sits beside them as a reference row)."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.world import get_domain
from benchmark.params import load_section, params_md5
from benchmark.stages.fid_reference import KID_SEED_OFFSET, SPLITS, load_extractor, score_against
from klish import atomic
from klish.errors import ConfigError
from klish.generators import load_checkpoint
from klish.metrics.fid import inception_features, load_features
from klish.seeding import sample_latents
from klish.visualize import to_uint8

PARAMS = ("base", "fid")


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("gan_fid", __doc__, {
        "checkpoint": "GAN generator checkpoint (.safetensors with its .json sidecar)",
        "reference": "folder of the fid_reference feature tables (test.npy, train.npy)",
        "results": "folder for metrics.json"})


@torch.no_grad()
def gan_samples(generator: torch.nn.Module, n: int, seed: int, batch_size: int, device: str) -> np.ndarray:
    """`n` uint8 samples [n, R, R, 3] from latents that depend on (seed, index) only."""
    generator.to(device).eval()
    out = []
    for start in range(0, n, batch_size):
        z = sample_latents(seed, range(start, min(n, start + batch_size)), generator.z_dim).to(device)
        out.append(to_uint8(generator(z).cpu().numpy()))
    return np.concatenate(out)


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    base, p = load_section("base"), load_section("fid")
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    reference = {split: load_features(args.reference / f"{split}.npy")[0] for split in SPLITS}
    start = time.perf_counter()
    generator, sidecar = load_checkpoint(args.checkpoint)
    images = gan_samples(generator, p.n_samples, p.gan_seed, p.batch_size, base.device)
    features = inception_features(load_extractor(p), images, batch_size=p.batch_size, source=f"{args.checkpoint}",
                                  device=base.device)
    metrics = {**score_against(features, reference, base.seed + KID_SEED_OFFSET), "n_samples": p.n_samples,
               "latent_seed": p.gan_seed, "wall_seconds": round(time.perf_counter() - start, 2)}
    args.results.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("fid", dvc_stage=f"gan_fid@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain, checkpoint=sidecar.get("sha256", "")),
                            params={"base": vars(base), "fid": vars(p)},
                            tags={"profile": base.profile, "domain": args.domain, "method": "gan",
                                  "seed": p.gan_seed}) as mlrun:
        mlrun.log_metrics(metrics)


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
