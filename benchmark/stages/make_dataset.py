"""Stage make_dataset: a synthetic image+mask dataset from one domain's GAN and one clustering (method, seed), masks
from the clustering's semantic extractor at the domain's selected K (`make_dataset.select_k`), written as shards
with a dataset card under datasets/synthetic/<domain>/<method>/s<seed>/. KLiSH's automatic choice of K (the
largest drop of its merging metric) is reported beside the manual one."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark import tracking
from benchmark.cli import run, stage_parser
from benchmark.data.synthetic import auto_select_k, synthesize
from benchmark.data.world import get_domain
from benchmark.json_inputs import read_json
from benchmark.params import CLUSTER_METHODS, load_section, params_md5
from benchmark.stages.cluster import SEED_OFFSET
from klish import atomic
from klish.errors import CheckpointError, ConfigError
from klish.extractor import load_extractors
from klish.features import FeatureStore
from klish.generators import load_checkpoint

PARAMS = ("base", "make_dataset")


def build_parser() -> argparse.ArgumentParser:
    return stage_parser("make_dataset", __doc__, {
        "checkpoint": "generator .safetensors (with its .json)", "features": "the clustered feature store (layers)",
        "clustering": "cluster stage output folder", "out": "dataset folder",
        "results": "folder for metrics.json and preview.png"}, CLUSTER_METHODS)


def read_model(clustering: Path) -> dict:
    """The cluster stage's model.json, with a one-line error when missing or unreadable."""
    return read_json(clustering / "model.json", "not found (run the cluster stage first)")


def _main(args: argparse.Namespace) -> None:
    get_domain(args.domain)
    base, p = load_section("base"), load_section("make_dataset")
    if args.method not in p.methods:
        raise ConfigError(f"params.yaml: method {args.method!r} is not in make_dataset.methods {p.methods}")
    if args.seed not in p.seeds:
        raise ConfigError(f"params.yaml: seed index {args.seed} is not in make_dataset.seeds {p.seeds}")
    if args.domain not in p.select_k:
        raise ConfigError(f"params.yaml: make_dataset.select_k has no K for domain {args.domain!r}")
    k = p.select_k[args.domain]
    model = read_model(args.clustering)
    extractors = load_extractors(args.clustering / "extractors.safetensors")
    if k not in extractors:
        raise ConfigError(f"{args.clustering / 'extractors.safetensors'}: K={k} (make_dataset.select_k."
                          f"{args.domain}) was not recorded by the clustering (has K in {sorted(extractors)})")
    generator, sidecar = load_checkpoint(args.checkpoint)
    if model.get("generator_sha256") != sidecar["sha256"]:
        raise CheckpointError(f"{args.checkpoint}: not the generator the clustering {args.clustering} was fit on "
                              f"(sha256 differs): re-run the cluster stage")
    reference = FeatureStore(args.features).manifest
    merges = {m["k"]: m["merge_metric"] for m in model.get("merges", [])}
    auto_k = auto_select_k(merges, *p.auto_k_range) if merges else None
    card = {"domain": args.domain, "method": args.method, "cluster_seed": model.get("seed"),
            "clustering": str(args.clustering), "k_source": f"make_dataset.select_k.{args.domain} in params.yaml",
            "auto_k": auto_k,
            "generator": {"checkpoint": str(args.checkpoint), "sha256": sidecar["sha256"], "arch": sidecar["arch"],
                          "step": sidecar.get("step")},
            "features": {"layers": [layer["name"] for layer in reference["layers"]], "size": reference["size"],
                         "normalize": reference["normalize"]}}
    start = time.perf_counter()
    manifest = synthesize(generator, extractors[k], args.out, layers=card["features"]["layers"],
                          size=reference["size"], normalize=reference["normalize"], n_samples=p.n_samples,
                          seed=p.seed, truncation=p.truncation, batch_size=p.batch_size, shard_size=p.shard_size,
                          card=card)
    seconds = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(args.results / "preview.png", (args.out / "preview.png").read_bytes())
    share = np.asarray(manifest["cluster_pixel_share"])
    metrics = {"wall_seconds": round(seconds, 2), "k": k, "auto_k": auto_k, "n_samples": p.n_samples,
               "latent_seed": p.seed, "largest_cluster_share": round(float(share.max()), 5),
               "empty_clusters": int((share == 0).sum())}
    atomic.write_json(args.results / "metrics.json", metrics)
    seed = base.seed + SEED_OFFSET + args.seed
    with tracking.stage_run("make_dataset", dvc_stage=f"make_dataset@{args.domain}-{args.method}-{args.seed}",
                            params_md5=params_md5(base, p, domain=args.domain, method=args.method, seed=args.seed,
                                                  checkpoint=sidecar["sha256"]),
                            params={"base": vars(base), "make_dataset": vars(p), "domain": args.domain,
                                    "method": args.method, "seed_index": args.seed},
                            tags={"profile": base.profile, "domain": args.domain, "method": args.method,
                                  "seed": seed}) as mlrun:
        mlrun.log_metrics({key: v for key, v in metrics.items() if isinstance(v, (int, float))})
        mlrun.log_artifact(args.results / "preview.png")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
