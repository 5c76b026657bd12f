"""Which GAN makes the world's parts findable? Train one GAN under params.yaml (with overrides) and, at snapshot steps
during training, score K-means, KLiSH, the colour floors and the probe ceiling on its features (issue 8's study).

    python -m benchmark.analysis.generator_study --domain face --set train_gan.upsample=transposed \\
        --snapshots 200 400 800 --world datasets/world/face --parser artifacts/parser/face/parser.safetensors \\
        --work /tmp/study/face_transposed --out results/studies/generator/face_transposed

Every setting comes from params.yaml's sections, as the pipeline's stages read them, with `--set section.key=value`
overrides (as `dvc exp run -S`): render_world (the world, when `--world` is not given), train_parser (the parser that
labels the evaluation samples, when `--parser` is not given), train_gan, extract_features (the clustering block),
eval_samples (the evaluation samples) and cluster (KLiSH's C and K0). The stages' seeds are used (clustering seed
indices from 0). The last snapshot is train_gan.steps. Each row is one (snapshot, variant, K), scored like
evaluate_clustering, with the GAN's training minutes up to that snapshot (at the last loss record) and the
clustering seed index (`--cluster-seeds`); `<out>.png` shows the final GAN's samples, the parser's labels and the
K = 8 masks of K-means and KLiSH.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmark.analysis.klish_sensitivity import parse_variant, run_variant
from benchmark.data import shards
from benchmark.data.world import get_domain
from benchmark.data.world.render import render_world
from benchmark.params import PARAMS_FILE, SECTIONS, ParamsError, load_section
from benchmark.report import write_table
from benchmark.stages import cluster, extract_features, train_gan, train_parser
from benchmark.stages import render_world as render_stage
from benchmark.tasks.segmenter import UNet, load_segmenter, predict, save_segmenter, train_segmenter
from klish.features import FeatureStore
from klish.features import extract_features as extract
from klish.generators import build_discriminator, build_generator
from klish.generators.train import train_gan as train
from klish.seeding import seed_everything
from klish.visualize import cluster_palette, image_grid, overlay, save_png

log = logging.getLogger(__name__)

SECTION_NAMES = ("base", "render_world", "train_parser", "train_gan", "extract_features", "eval_samples", "cluster")
PREVIEW = 8


def apply_overrides(sections: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Sections with `section.key=value` overrides: a number when the value reads as one, JSON for a list or mapping,
    else a string; checked against the field's type and then by each section's own validation."""
    out = dict(sections)
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in out:
            raise SystemExit(f"error: --set {item!r}: expected section.key=value with a section of "
                             f"{', '.join(out)}")
        fields = {f.name: f for f in dataclasses.fields(out[section])}
        if name not in fields:
            raise SystemExit(f"error: --set {item!r}: {section} has no key {name!r} (keys: {', '.join(fields)})")
        value = json.loads(raw) if raw[:1] in "[{" else _scalar(raw)
        hint = typing.get_type_hints(SECTIONS[section])[name]
        if hint is float and isinstance(value, int):
            value = float(value)
        if hint in (int, float, str) and not isinstance(value, hint):
            raise SystemExit(f"error: --set {item!r}: {section}.{name} must be {hint.__name__}")
        out[section] = dataclasses.replace(out[section], **{name: value})
    for section in out.values():  # after all overrides: a check may involve several keys
        try:
            section.validate()
        except ParamsError as err:
            raise SystemExit(f"error: --set {' '.join(overrides)}: {str(err).replace(PARAMS_FILE + ': ', '')}") \
                from None
    return out


def _scalar(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def world_folder(domain: str, s: dict[str, Any], work: Path) -> Path:
    """The world rendered under `work/world` with the render_world section (reused when its manifest matches)."""
    p, seed = s["render_world"], s["base"].seed + render_stage.SEED_OFFSET
    folder = work / "world"
    if (folder / shards.MANIFEST).exists():
        have = shards.load_manifest(folder)
        same = [have.get("resolution"), have.get("seed"), have.get("appearance"), have.get("supersample"),
                have["splits"]["train"]["n"], have["splits"]["test"]["n"]]
        if same == [p.resolution, seed, p.appearance, p.supersample, p.n_train, p.n_test]:
            return folder
    render_world(domain, folder, seed=seed, resolution=p.resolution, n_train=p.n_train, n_test=p.n_test,
                 supersample=p.supersample, shard_size=p.shard_size, workers=p.workers, appearance=p.appearance)
    return folder


def parser_file(domain: str, world: Path, s: dict[str, Any], work: Path) -> Path:
    """A parser trained on `world` with the train_parser section (reused from `work/parser` when it was trained on a
    world with the same manifest settings)."""
    path = work / "parser" / "parser.safetensors"
    manifest = shards.load_manifest(world)
    world_id = {k: manifest.get(k) for k in ("domain", "resolution", "seed", "appearance", "supersample")}
    if path.exists() and load_segmenter(path)[1].get("world") == world_id:
        return path
    p, seed = s["train_parser"], s["base"].seed + train_parser.SEED_OFFSET
    seed_everything(seed)
    images, masks = shards.read_split(world, "train", "images"), shards.read_split(world, "train", "masks")
    model = UNet(len(get_domain(domain).classes), width=p.width, depth=p.depth)
    train_segmenter(model, images, masks, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=seed,
                    device=s["base"].device, class_weighting=p.class_weighting)
    test_images, test_masks = shards.read_split(world, "test", "images"), shards.read_split(world, "test", "masks")
    accuracy = float((predict(model.cpu(), test_images) == test_masks).mean())
    save_segmenter(path, model.cpu(), {"domain": domain, "trained_on": str(world), "world": world_id, "seed": seed,
                                       "pixel_accuracy_real": accuracy})
    log.info("parser trained on %s: pixel accuracy %.3f on its test split", world, accuracy)
    return path


def snapshot_data(generator: torch.nn.Module, domain: str, s: dict[str, Any], parser: torch.nn.Module,
                  work: Path) -> dict[str, Any]:
    """The clustering block and the evaluation samples of one snapshot, in klish_sensitivity's data layout."""
    p, e = s["extract_features"], s["eval_samples"]
    seed = s["base"].seed + extract_features.SEED_OFFSET
    block = extract(generator, work / "block", n_samples=p.n_samples, seed=seed, size=p.size, batch_size=p.batch_size,
                    layers=p.layers, max_channels=p.max_channels, normalize=p.normalize, truncation=p.truncation,
                    progress=False)
    extract(generator, work / "eval", n_samples=e.n_samples, seed=e.seed, size=p.size, batch_size=e.batch_size,
            layers=[layer["name"] for layer in block["layers"]], normalize=p.normalize, truncation=p.truncation,
            progress=False)
    store, eval_store = FeatureStore(work / "block"), FeatureStore(work / "eval")
    images, eval_images = np.asarray(store.images), np.asarray(eval_store.images)
    spec = get_domain(domain)
    return {"domain": spec, "n_classes": len(spec.classes), "layers": store.layers, "images": images,
            "features": np.asarray(store.features, dtype=np.float32),
            "labels": predict(parser, images).reshape(-1),
            "eval_features": np.asarray(eval_store.features, dtype=np.float32), "eval_images": eval_images,
            "truth": predict(parser, eval_images).astype(np.uint8)}


def preview(data: dict[str, Any], kept: dict[str, dict[str, Any]], k: int) -> np.ndarray:
    """Rows: the block's first images, the parser's labels, then each kept variant's masks at K = `k` (or its own K)."""
    images = data["images"][:PREVIEW]
    size = images.shape[1]
    scale = max(1, 64 // size)
    rows = [image_grid(images, PREVIEW, scale=scale),
            image_grid(overlay(images, data["labels"].reshape(-1, size, size)[:PREVIEW], data["domain"].palette),
                       PREVIEW, scale=scale)]
    for fit in kept.values():
        extractor = fit["extractors"][min(fit["extractors"], key=lambda kk: abs(kk - k))]
        masks = extractor.predict_masks(fit["block"][:PREVIEW], size)
        rows.append(image_grid(overlay(images, masks, cluster_palette(extractor.n_clusters)), PREVIEW, scale=scale))
    return np.concatenate(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="params.yaml overrides")
    parser.add_argument("--snapshots", nargs="*", type=int, default=[], help="earlier steps to score as well")
    parser.add_argument("--world", type=Path, default=None, help="a rendered world (default: render one into --work)")
    parser.add_argument("--parser", type=Path, default=None, help="parser .safetensors (default: train one)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="klish_sensitivity variants (default: rgb rgb_xy probe kmeans and KLiSH as in params)")
    parser.add_argument("--k", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--cluster-seeds", type=int, default=1, help="clustering seed indices 0..N-1 per variant "
                        "(the cluster stage's seeds; the preview shows index 0)")
    parser.add_argument("--preview", nargs="*", default=None, help="variants shown in <out>.png (default: kmeans, "
                        "KLiSH)")
    parser.add_argument("--work", required=True, type=Path, help="scratch folder (world, parser, feature stores)")
    parser.add_argument("--out", required=True, type=Path, help="write <out>.md, <out>.csv and <out>.png")
    parser.add_argument("--label", default=None, help="the setting's name in the table (default: the --set list)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = get_domain(args.domain)
    s = apply_overrides({name: load_section(name) for name in SECTION_NAMES}, args.set)
    c = s["cluster"]
    klish_variant = f"{'Crel' if c.C_scaling == 'feature_variance' else 'C'}={c.C:g}+k0={c.n_init_clusters}"
    variants = args.variants or ["rgb", "rgb_xy", "probe", "kmeans", klish_variant]
    shown = args.preview if args.preview is not None else ["kmeans", klish_variant]
    for name in variants:
        parse_variant(name)
    if set(shown) - set(variants):
        raise SystemExit(f"error: --preview {' '.join(sorted(set(shown) - set(variants)))}: not among the variants")
    if args.world is not None and any(item.startswith("render_world.") for item in args.set):
        raise SystemExit("error: --world is given, so render_world overrides would be ignored: drop one of them")
    g = s["train_gan"]
    steps = sorted({*args.snapshots, g.steps})
    args.work.mkdir(parents=True, exist_ok=True)
    world = args.world or world_folder(args.domain, s, args.work)
    parser_path = args.parser or parser_file(args.domain, world, s, args.work)
    labeller, _ = load_segmenter(parser_path)
    images = shards.read_split(world, "train", "images")
    resolution = int(images.shape[1])
    seed = s["base"].seed + train_gan.SEED_OFFSET
    cluster_seed = s["base"].seed + cluster.SEED_OFFSET
    seed_everything(seed)
    g_kwargs, d_kwargs = train_gan.model_kwargs(g, resolution)
    generator = build_generator(g.arch, **g_kwargs)
    discriminator = build_discriminator(g.arch, **d_kwargs)
    rows: list[dict[str, Any]] = []
    history: list[dict[str, float]] = []
    final: dict[str, Any] = {}
    label = args.label or (" ".join(args.set) or "params.yaml")

    def score(step: int, snapshot: torch.nn.Module) -> None:
        data = snapshot_data(snapshot, args.domain, s, labeller, args.work)
        seconds = history[-1]["seconds"] if history else 0.0
        kept: dict[str, dict[str, Any]] = {}
        for name in variants:
            # The probe has no seed; every other variant is fitted with seed indices 0 .. cluster_seeds - 1.
            for index in range(1 if parse_variant(name)["method"] == "probe" else args.cluster_seeds):
                fit = kept.setdefault(name, {}) if index == 0 else None
                for row in run_variant(name, data, args.k, cluster_seed + index, keep=fit):
                    rows.append({"domain": args.domain, "setting": label, "step": step, "seed_index": index,
                                 "train_minutes": round(seconds / 60, 2), **row})
        log.info("%s step %d: %s", args.domain, step, "; ".join(
            f"{r['variant']} K={r['k']} ARI {r['ari_pseudo']:.3f}" for r in rows
            if r["step"] == step and r["seed_index"] == 0))
        final.update(data=data, kept={name: kept[name] for name in shown})

    train(images, generator, discriminator, steps=g.steps, batch_size=g.batch_size, lr=g.lr,
          betas=(g.beta1, g.beta2), ema_decay=g.ema_decay, seed=seed, log_every=g.log_every, bn_batches=g.bn_batches,
          device=s["base"].device, callback=history.append, snapshot_steps=steps, on_snapshot=score,
          r1_gamma=g.r1_gamma)
    table = pd.DataFrame(rows).round(4)
    write_table(args.out, f"Generator study ({spec.name}: {label})", "benchmark.analysis.generator_study", argv, table)
    save_png(args.out.with_suffix(".png"), preview(final["data"], final["kept"], 8))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
