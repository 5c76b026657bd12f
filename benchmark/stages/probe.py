"""Stage probe: test accuracy of one feature type on one recognition set under the linear L2-SVM protocol (the DCGAN
recipe; C chosen on a validation split of the training labels), at each label fraction. Feature types: the trained
DCGAN discriminator, the same with its initial random weights (control), the same with its real-vs-generated
directions projected out, the BiGAN encoder (all layers, or the latent only), raw pixels (control); and the supervised
CNN of the discriminator's shape trained on the same labels (upper bound). Writes a metrics JSON and an MLflow run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from benchmark import tracking
from benchmark.cli import run
from benchmark.data.recognition import DATASETS, read_prepared
from benchmark.params import PROBE_FEATURES, load_section, params_md5
from benchmark.tasks import probe
from klish import atomic
from klish.errors import CheckpointError
from klish.generators import build_discriminator, load_checkpoint
from klish.seeding import sample_latents, seed_everything
from klish.visualize import to_uint8

PARAMS = ("base", "recognition", "probe")
SEED_OFFSET = 720
SVM_JOBS = 2  # one-vs-rest classifiers fitted in parallel; the result does not depend on it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.probe", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="recognition set")
    parser.add_argument("--features", required=True, choices=PROBE_FEATURES, help="feature type (or the CNN control)")
    parser.add_argument("--data", required=True, type=Path, help="prepared recognition set folder")
    parser.add_argument("--gans", required=True, type=Path, help="artifacts/feature_gan/<dataset> (dcgan/, bigan/)")
    parser.add_argument("--metrics", required=True, type=Path, help="metrics JSON to write")
    return parser


def fraction_key(fraction: float) -> str:
    """0.01 -> 'labels_1pct', 1.0 -> 'labels_100pct' (metric names)."""
    return f"labels_{fraction * 100:g}pct"


@torch.no_grad()
def generated_images(generator: torch.nn.Module, n: int, seed: int, batch_size: int = 256) -> np.ndarray:
    """`n` generator samples from seeded latents as uint8 [n, R, R, C]."""
    parts = [to_uint8(generator(sample_latents(seed, range(s, min(s + batch_size, n)), generator.z_dim,
                                               stream=11)).numpy()) for s in range(0, n, batch_size)]
    return np.concatenate(parts)


def holdout_separability(real: np.ndarray, fake: np.ndarray, seed: int) -> float:
    """Held-out accuracy of a logistic regression telling real from generated features (0.5: inseparable)."""
    x = np.concatenate([real, fake])
    y = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    a, b, ya, yb = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    mean, std = a.mean(0), a.std(0) + 1e-8
    model = LogisticRegression(C=0.1, max_iter=500, random_state=seed).fit((a - mean) / std, ya)
    return float(model.score((b - mean) / std, yb))


def required_checkpoints(kind: str) -> list[str]:
    """The checkpoints (relative to the dataset's GAN folder) that feature type `kind` reads."""
    if kind in ("discriminator", "supervised_cnn"):
        return ["dcgan/discriminator.safetensors"]
    if kind == "discriminator_random":
        return ["dcgan/discriminator_init.safetensors"]
    if kind == "discriminator_minus_realfake":
        return ["dcgan/discriminator.safetensors", "dcgan/generator.safetensors"]
    if kind in ("bigan_encoder", "bigan_latent"):
        return ["bigan/encoder.safetensors"]
    return []


def extract(kind: str, gans: Path, arrays: dict[str, np.ndarray], p: Any, seed: int
            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(train features, test features, extra metrics) of feature type `kind`."""
    train, test = arrays["train_images"], arrays["test_images"]
    if kind == "pixels":
        return probe.pixel_features(train), probe.pixel_features(test), {}
    if kind in ("discriminator", "discriminator_random", "discriminator_minus_realfake"):
        name = "discriminator_init" if kind == "discriminator_random" else "discriminator"
        disc, _ = load_checkpoint(gans / "dcgan" / f"{name}.safetensors")
        train_x, test_x = probe.discriminator_features(disc, train), probe.discriminator_features(disc, test)
        if kind != "discriminator_minus_realfake":
            return train_x, test_x, {}
        generator, _ = load_checkpoint(gans / "dcgan" / "generator.safetensors")
        n = min(p.realfake_samples, len(train))
        pick = np.random.default_rng(seed).choice(len(train), n, replace=False)
        real = train_x[pick]
        fake = probe.discriminator_features(disc, generated_images(generator, n, seed))
        directions = probe.real_fake_directions(real, fake, p.realfake_directions, seed=seed)
        reference = np.concatenate([real, fake])
        extra = {"realfake_directions": p.realfake_directions, "realfake_samples": n,
                 "realfake_separability_before": holdout_separability(real, fake, seed),
                 "realfake_separability_after": holdout_separability(
                     probe.project_out(real, directions, reference), probe.project_out(fake, directions, reference),
                     seed)}
        return (probe.project_out(train_x, directions, reference), probe.project_out(test_x, directions, reference),
                extra)
    if kind in ("bigan_encoder", "bigan_latent"):
        encoder, _ = load_checkpoint(gans / "bigan" / "encoder.safetensors")
        layers = ["z"] if kind == "bigan_latent" else None
        return (probe.discriminator_features(encoder, train, layers=layers),
                probe.discriminator_features(encoder, test, layers=layers), {})
    raise ValueError(f"no feature extractor for {kind!r}")


def supervised_accuracy(gans: Path, arrays: dict[str, np.ndarray], keep: np.ndarray, p: Any, seed: int) -> float:
    """Test accuracy of the supervised CNN (a fresh discriminator body + linear head) trained on the images `keep`."""
    _, sidecar = load_checkpoint(gans / "dcgan" / "discriminator.safetensors")
    torch.manual_seed(seed)
    labels = arrays["train_labels"]
    model = probe.SupervisedCNN(build_discriminator("dcgan", **sidecar["kwargs"]), int(labels.max()) + 1)
    probe.train_supervised(model, arrays["train_images"][keep], labels[keep], steps=p.supervised_steps,
                           batch_size=p.batch_size, lr=p.supervised_lr, seed=seed)
    return probe.accuracy(model, arrays["test_images"], arrays["test_labels"])


def _main(args: argparse.Namespace) -> None:
    base, rec, p = load_section("base"), load_section("recognition"), load_section("probe")
    seed = base.seed + SEED_OFFSET
    seed_everything(seed)
    manifest, arrays = read_prepared(args.data)
    for name in required_checkpoints(args.features):
        if not (args.gans / name).is_file():
            raise CheckpointError(f"{args.gans / name}: checkpoint not found (run the train_feature_gan stage of "
                                  f"{args.dataset} first)")
    start = time.perf_counter()
    metrics: dict[str, Any] = {"dataset": args.dataset, "features": args.features, "seed": seed,
                               "n_train": manifest["n_train"], "n_test": manifest["n_test"]}
    with tracking.stage_run("probe", dvc_stage=f"probe@{args.dataset}-{args.features}",
                            params_md5=params_md5(base, rec, p, dataset=args.dataset, features=args.features),
                            params={"base": vars(base), "recognition": vars(rec), "probe": vars(p),
                                    "dataset": args.dataset, "features": args.features},
                            tags={"profile": base.profile, "domain": args.dataset, "method": args.features,
                                  "seed": seed}) as mlrun:
        if args.features != "supervised_cnn":
            train_x, test_x, extra = extract(args.features, args.gans, arrays, p, seed)
            metrics.update(extra, dims=int(train_x.shape[1]), extract_seconds=round(time.perf_counter() - start, 2))
        for fraction in sorted(p.label_fractions):
            key = fraction_key(fraction)
            keep = probe.label_subset(arrays["train_labels"], fraction, seed)
            metrics[f"n_labels_{key}"] = int(len(keep))
            if args.features == "supervised_cnn":
                metrics[f"accuracy_{key}"] = supervised_accuracy(args.gans, arrays, keep, p, seed)
                continue
            result = probe.svm_probe(train_x[keep], arrays["train_labels"][keep], test_x, arrays["test_labels"],
                                     C_grid=p.svm_C, validation_fraction=p.validation_fraction, seed=seed,
                                     max_iter=p.svm_max_iter, n_jobs=SVM_JOBS)
            metrics[f"accuracy_{key}"] = result.test_accuracy
            metrics[f"svm_C_{key}"] = result.C
            metrics[f"validation_{key}"] = {f"{c:g}": round(v, 5) for c, v in result.validation.items()}
        metrics["wall_seconds"] = round(time.perf_counter() - start, 2)
        atomic.write_json(args.metrics, metrics)
        mlrun.log_metrics({k: float(v) for k, v in metrics.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)})


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
