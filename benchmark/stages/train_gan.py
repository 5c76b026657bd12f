"""Stage train_gan: train the GAN of one domain on the world's train images; write the EMA generator and the
discriminator as safetensors checkpoints, a loss curve (DVC plot), a fixed-seed sample grid and a metrics JSON,
and log the run to MLflow."""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.params import TrainGanParams, load_section, params_md5
from klish import atomic
from klish.errors import ConfigError
from klish.generators import build_discriminator, build_generator, save_checkpoint
from klish.generators.train import train_gan
from klish.seeding import sample_latents, seed_everything
from klish.visualize import image_grid, save_png, to_uint8

PARAMS = ("base", "train_gan")
SEED_OFFSET = 100
LOSS_COLUMNS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "seconds")


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("train_gan", __doc__, {
        "data": "rendered world dataset folder", "out": "checkpoint folder to write",
        "results": "folder for losses.csv, samples.png, metrics.json"})


def model_kwargs(p: TrainGanParams, resolution: int) -> tuple[dict, dict]:
    """Constructor arguments (generator, discriminator) of the train_gan section's architecture at `resolution`."""
    g_kwargs = {"z_dim": p.z_dim, "width": p.width, "resolution": resolution}
    g_kwargs.update({"n_mlp": p.n_mlp} if p.arch == "stylegan2" else {"upsample": p.upsample})
    return g_kwargs, {"width": p.width, "resolution": resolution}


def write_losses(path: Path, history: list[dict[str, float]]) -> None:
    """The loss history as CSV (one row per record), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: (int(record[k]) if k == "step" else round(record[k], 6)) for k in LOSS_COLUMNS})
    atomic.write_text(path, buffer.getvalue())


@torch.no_grad()
def sample_grid(generator: torch.nn.Module, n: int, seed: int, device: str) -> np.ndarray:
    """A grid of `n` samples from fixed latents (the same for every run with this seed)."""
    z = sample_latents(seed, range(n), generator.z_dim, stream=3).to(device)
    images = to_uint8(generator(z).cpu().numpy())
    return image_grid(images, ncol=int(np.ceil(np.sqrt(n))), scale=max(1, 64 // images.shape[1]))


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    base, p = load_section("base"), load_section("train_gan")
    seed = base.seed + SEED_OFFSET
    seed_everything(seed)
    images = shards.read_split(args.data, "train", "images")  # [N, R, R, 3] uint8
    resolution = int(images.shape[1])
    g_kwargs, d_kwargs = model_kwargs(p, resolution)
    generator = build_generator(p.arch, **g_kwargs)
    discriminator = build_discriminator(p.arch, **d_kwargs)
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    with tracking.stage_run("train_gan", dvc_stage=f"train_gan@{args.domain}",
                            params_md5=params_md5(base, p, domain=args.domain),
                            params={"base": vars(base), "train_gan": vars(p), "domain": args.domain},
                            tags={"profile": base.profile, "domain": args.domain, "method": p.arch,
                                  "seed": seed}) as mlrun:
        def report(record: dict[str, float]) -> None:
            mlrun.log_metrics({k: v for k, v in record.items() if k != "step"}, step=int(record["step"]))

        start = time.perf_counter()
        result = train_gan(images, generator, discriminator, steps=p.steps, batch_size=p.batch_size, lr=p.lr,
                           betas=(p.beta1, p.beta2), ema_decay=p.ema_decay, seed=seed, log_every=p.log_every,
                           bn_batches=p.bn_batches, device=base.device, callback=report, r1_gamma=p.r1_gamma)
        meta = {"resolution": resolution, "step": p.steps, "seed": seed, "domain": args.domain,
                "source": f"trained by benchmark.stages.train_gan on {args.data}"}
        with atomic.atomic_directory(args.out) as tmp:
            save_checkpoint(tmp / "generator.safetensors", result.generator.cpu(), arch=p.arch, role="generator",
                            kwargs=g_kwargs, ema_decay=p.ema_decay, **meta)
            save_checkpoint(tmp / "discriminator.safetensors", result.discriminator.cpu(), arch=p.arch,
                            role="discriminator", kwargs=d_kwargs, **meta)
        seconds = time.perf_counter() - start
        args.results.mkdir(parents=True, exist_ok=True)
        write_losses(args.results / "losses.csv", result.history)
        save_png(args.results / "samples.png", sample_grid(result.generator, p.grid_size, seed, "cpu"))
        last = result.history[-1]
        metrics = {"wall_seconds": round(seconds, 2), "train_seconds": round(result.seconds, 2), "seed": seed,
                   "steps": p.steps, "steps_per_second": round(p.steps / result.seconds, 3),
                   "final_d_loss": round(last["d_loss"], 5), "final_g_loss": round(last["g_loss"], 5),
                   "n_train_images": int(len(images))}
        atomic.write_json(args.results / "metrics.json", metrics)
        mlrun.log_metrics({"wall_seconds": seconds, "steps_per_second": metrics["steps_per_second"]})
        mlrun.log_artifact(args.results / "samples.png")
        mlrun.log_artifact(args.results / "losses.csv")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
