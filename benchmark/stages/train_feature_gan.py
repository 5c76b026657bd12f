"""Stage train_feature_gan: train a GAN on one recognition set's training images, labels unseen. `dcgan`: the DCGAN
recipe's generator and discriminator, plus the discriminator's initial weights (the random-weights control);
`bigan`: generator, encoder and joint discriminator. Writes safetensors checkpoints, a loss curve, a sample grid (and
for the BiGAN, reconstructions G(E(x))), a metrics JSON, and an MLflow run."""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from benchmark import tracking
from benchmark.cli import run
from benchmark.data.recognition import DATASETS, read_prepared
from benchmark.params import load_section, params_md5
from benchmark.stages.train_gan import sample_grid, write_losses
from klish import atomic
from klish.errors import ConfigError
from klish.generators import build_discriminator, build_encoder, build_generator, save_checkpoint
from klish.generators.train import images_to_tensor, train_gan
from klish.generators.train_bigan import train_bigan
from klish.seeding import seed_everything
from klish.visualize import image_grid, save_png, to_uint8

PARAMS = ("base", "recognition")
SEED_OFFSET = 710
MODELS = ("dcgan", "bigan")
BN_BATCHES = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.train_feature_gan", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="recognition set")
    parser.add_argument("--model", required=True, choices=MODELS, help="GAN family")
    parser.add_argument("--data", required=True, type=Path, help="prepared recognition set folder")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    parser.add_argument("--results", required=True, type=Path, help="folder for losses.csv, samples.png, metrics.json")
    return parser


@torch.no_grad()
def reconstructions(generator: torch.nn.Module, encoder: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Pairs of rows: real images, then G(E(x)) (what the BiGAN's encoder keeps of them), as an RGB grid."""
    x = images_to_tensor(images)
    rebuilt = to_uint8(generator(encoder(x)).numpy())
    pairs = np.concatenate([images, rebuilt.reshape(images.shape)])
    rgb = np.repeat(pairs, 3, axis=-1) if pairs.shape[-1] == 1 else pairs
    return image_grid(rgb, ncol=len(images), scale=max(1, 64 // images.shape[1]))


def _grey_to_rgb(grid: np.ndarray) -> np.ndarray:
    return np.repeat(grid, 3, axis=-1) if grid.ndim == 3 and grid.shape[-1] == 1 else grid


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("recognition")
    if base.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"params.yaml: base.device is {base.device!r} but no GPU is available (use 'cpu')")
    seed = base.seed + SEED_OFFSET + (0 if args.model == "dcgan" else 1)
    seed_everything(seed)
    manifest, arrays = read_prepared(args.data)
    images = arrays["train_images"]  # [N, R, R, 1] uint8; labels are not read
    resolution, channels = int(images.shape[1]), int(images.shape[-1])
    g_kwargs = {"z_dim": p.z_dim, "width": p.width, "resolution": resolution, "upsample": "transposed",
                "out_channels": channels}
    d_kwargs = {"width": p.width, "resolution": resolution, "in_channels": channels}
    if args.model == "bigan":
        d_kwargs["z_dim"] = p.z_dim
    generator = build_generator("dcgan", **g_kwargs)
    discriminator = build_discriminator(args.model, **d_kwargs)
    initial = copy.deepcopy(discriminator).eval()
    meta = {"resolution": resolution, "step": p.steps, "seed": seed, "dataset": args.dataset,
            "source": f"trained by benchmark.stages.train_feature_gan on {args.data} (labels unseen)"}
    with tracking.stage_run("train_feature_gan", dvc_stage=f"train_feature_gan@{args.dataset}-{args.model}",
                            params_md5=params_md5(base, p, dataset=args.dataset, model=args.model),
                            params={"base": vars(base), "recognition": vars(p), "dataset": args.dataset,
                                    "model": args.model},
                            tags={"profile": base.profile, "domain": args.dataset, "method": args.model,
                                  "seed": seed}) as mlrun:
        def report(record: dict[str, float]) -> None:
            mlrun.log_metrics({k: v for k, v in record.items() if k != "step"}, step=int(record["step"]))

        common = {"steps": p.steps, "batch_size": p.batch_size, "lr": p.lr, "betas": (p.beta1, p.beta2),
                  "seed": seed, "log_every": p.log_every, "bn_batches": BN_BATCHES, "device": base.device,
                  "callback": report}
        start = time.perf_counter()
        args.results.mkdir(parents=True, exist_ok=True)
        if args.model == "dcgan":
            result = train_gan(images, generator, discriminator, ema_decay=p.ema_decay, **common)
            with atomic.atomic_directory(args.out) as tmp:
                save_checkpoint(tmp / "generator.safetensors", result.generator.cpu(), arch="dcgan",
                                role="generator", kwargs=g_kwargs, ema_decay=p.ema_decay, **meta)
                save_checkpoint(tmp / "discriminator.safetensors", result.discriminator.cpu(), arch="dcgan",
                                role="discriminator", kwargs=d_kwargs, **meta)
                save_checkpoint(tmp / "discriminator_init.safetensors", initial, arch="dcgan", role="discriminator",
                                kwargs=d_kwargs, **{**meta, "step": 0,
                                                    "source": "the initial weights of discriminator.safetensors "
                                                              "(the random-weights control)"})
        else:
            encoder = build_encoder("bigan", z_dim=p.z_dim, width=p.width, resolution=resolution,
                                    in_channels=channels)
            e_kwargs = {"z_dim": p.z_dim, "width": p.width, "resolution": resolution, "in_channels": channels}
            result = train_bigan(images, generator, encoder, discriminator, **common)
            with atomic.atomic_directory(args.out) as tmp:
                save_checkpoint(tmp / "generator.safetensors", result.generator.cpu(), arch="dcgan",
                                role="generator", kwargs=g_kwargs, **meta)
                save_checkpoint(tmp / "encoder.safetensors", result.encoder.cpu(), arch="bigan", role="encoder",
                                kwargs=e_kwargs, **meta)
                save_checkpoint(tmp / "discriminator.safetensors", result.discriminator.cpu(), arch="bigan",
                                role="discriminator", kwargs=d_kwargs, **meta)
            save_png(args.results / "reconstructions.png",
                     reconstructions(result.generator.cpu(), result.encoder.cpu(), images[:16]))
            mlrun.log_artifact(args.results / "reconstructions.png")
        seconds = time.perf_counter() - start
        write_losses(args.results / "losses.csv", result.history)
        save_png(args.results / "samples.png", _grey_to_rgb(sample_grid(result.generator.cpu(), 64, seed, "cpu")))
        last = result.history[-1]
        metrics = {"wall_seconds": round(seconds, 2), "train_seconds": round(result.seconds, 2), "seed": seed,
                   "steps": p.steps, "steps_per_second": round(p.steps / result.seconds, 3),
                   "final_d_loss": round(last["d_loss"], 5), "final_g_loss": round(last["g_loss"], 5),
                   "n_train_images": int(len(images)), "dataset_n_train": manifest["n_train"]}
        atomic.write_json(args.results / "metrics.json", metrics)
        mlrun.log_metrics({"wall_seconds": seconds, "steps_per_second": metrics["steps_per_second"]})
        mlrun.log_artifact(args.results / "samples.png")
        mlrun.log_artifact(args.results / "losses.csv")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
