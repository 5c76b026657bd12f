"""Stage clustering_table: the clustering evaluation of every (domain, method, seed) cell summarised as mean ± std
over seeds at each reported K (never the best seed), with each domain's parser accuracy beside it:
results/clustering_table/table.csv (long format) and table.md (one table per K). The reference rows of
cluster_references sit in the same tables: the colour floors (`rgb`, `rgb_xy`) at each K, and the supervised linear
probe (the ceiling), which has one K (the domain's class count) and is repeated in every K's table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmark.cli import run
from benchmark.json_inputs import read_json
from benchmark.params import load_section
from benchmark.stages.cluster_references import CEILING, CEILING_SEED, FLOORS
from klish import atomic
from klish.errors import KlishError

PARAMS = ("cluster",)  # which (method, seed) cells belong to this run; files of other profiles are ignored
METRICS = ("ari_pseudo", "ami_pseudo", "miou_pseudo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.clustering_table", description=__doc__)
    parser.add_argument("--evaluations", required=True, type=Path,
                        help="results/evaluate_clustering (<domain>/<method>.json)")
    parser.add_argument("--references", type=Path, default=None,
                        help="results/cluster_references (<domain>/{rgb,rgb_xy,probe}.json): floor and ceiling rows")
    parser.add_argument("--out", required=True, type=Path, help="folder for table.csv and table.md")
    return parser


def collect(root: Path, methods: list[str], seeds: list[int], domains: list[str] | None = None) -> pd.DataFrame:
    """One row per (domain, method, seed, K, metric) from the evaluation metric files under `root`
    (<domain>/<method>.json, one entry per seed), for the given methods and seed indices only (a missing cell is an
    error). `domains` defaults to the folders under `root`."""
    rows = []
    if domains is None:
        domains = sorted({path.parent.name for path in root.glob("*/*.json")})
    for domain, method in ((d, m) for d in domains for m in methods):
        path = root / domain / f"{method}.json"
        by_seed = read_json(path, f"evaluation missing (run evaluate_clustering for {domain}/{method})")
        for seed in (f"s{s}" for s in seeds):
            if seed not in by_seed:
                raise KlishError(f"{path}: no entry for seed {seed} (run evaluate_clustering for {domain}/{method})")
            data = by_seed[seed]
            for metric in METRICS:
                for key, value in data.get(metric, {}).items():
                    rows.append({"domain": domain, "method": method, "seed": seed, "k": int(key[1:]),
                                 "metric": metric, "value": value, "parser_miou_real": data.get("parser_miou_real")})
    if not rows:
        raise KlishError(f"{root}: no <domain>/<method>.json evaluation files (run evaluate_clustering first)")
    return pd.DataFrame(rows)


def with_references(frame: pd.DataFrame, root: Path, seeds: list[int]) -> pd.DataFrame:
    """`frame` plus the floor rows (every seed, at the K values of `frame`) and the probe's rows (one fit, at its
    own K, repeated under each K of `frame` so that every table shows the ceiling)."""
    domains = sorted(set(frame["domain"]))
    floors = collect(root, list(FLOORS), seeds, domains)
    floors = floors[floors["k"].isin(set(frame["k"]))]
    probe = collect(root, [CEILING], [CEILING_SEED], domains)
    repeated = [probe.assign(k=k) for k in sorted(set(frame["k"]))]
    return pd.concat([frame, floors, *repeated], ignore_index=True)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and seed count per (domain, method, K, metric)."""
    grouped = frame.groupby(["domain", "method", "k", "metric"])["value"]
    out = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def markdown(summary: pd.DataFrame, parser_miou: dict[str, float]) -> str:
    """One table per K: rows = methods, columns = domain x metric, cells mean ± std."""
    lines = ["# Clustering against the pseudo ground truth (mean ± std over seeds)", "",
             "Parser mIoU on the real test split (how far the pseudo ground truth can be trusted): "
             + ", ".join(f"{d} {v:.3f}" for d, v in sorted(parser_miou.items())), ""]
    if CEILING in set(summary["method"]):
        lines += ["References: `rgb` and `rgb_xy` are the floor (K-means on the generated pixels' colour, and colour "
                  "plus position); `probe` is the ceiling (a supervised linear classifier on the same generator "
                  "features, trained against the parser's labels, one output per class: its K is the class count, "
                  "the same row in every table).", ""]
    for k, block in summary.groupby("k"):
        block = block.assign(cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(block["mean"], block["std"])])
        wide = block.pivot_table(index="method", columns=["domain", "metric"], values="cell", aggfunc="first")
        wide.columns = [f"{d} {m.replace('_pseudo', '')}" for d, m in wide.columns]
        seeds = int(block.loc[block["method"] != CEILING, "n_seeds"].min())  # the probe is one fit
        lines += [f"## K = {k} ({seeds} seeds)", "", wide.to_markdown(), ""]
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> None:
    p = load_section("cluster")
    frame = collect(args.evaluations, p.methods, p.seeds)
    if args.references is not None:
        frame = with_references(frame, args.references, p.seeds)
    summary = summarise(frame)
    parser_miou = frame.groupby("domain")["parser_miou_real"].first().dropna().to_dict()
    atomic.write_text(args.out / "table.csv", summary.round(6).to_csv(index=False))
    atomic.write_text(args.out / "table.md", markdown(summary, parser_miou))


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
