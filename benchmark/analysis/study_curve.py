"""Plot cluster quality against GAN training minutes from generator_study tables: one column per domain, ARI and mIoU
rows, one line per method at one K (the probe at its own K).

    python -m benchmark.analysis.study_curve results/studies/generator/*_curve.csv --k 8 \\
        --out results/studies/semantic_content_curve.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.analysis.klish_sensitivity import parse_variant  # noqa: E402
from klish import atomic  # noqa: E402

METRICS = (("ari_pseudo", "ARI"), ("miou_pseudo", "mIoU (many-to-one)"))


def curve_figure(table: pd.DataFrame, k: int) -> plt.Figure:
    """ARI and mIoU against training minutes, per domain (columns) and variant (lines), at K = `k`."""
    probe = table["variant"] == "probe"
    rows = table[(table["k"] == k) | probe]
    domains = list(dict.fromkeys(rows["domain"]))
    fig, axes = plt.subplots(len(METRICS), len(domains), figsize=(4.2 * len(domains), 6.4), squeeze=False,
                             sharex="col")
    for col, domain in enumerate(domains):
        for row, (metric, title) in enumerate(METRICS):
            ax = axes[row][col]
            for variant, group in rows[rows["domain"] == domain].groupby("variant", sort=False):
                group = group.sort_values("train_minutes")
                style = "--" if variant in ("rgb", "rgb_xy", "probe") else "-"
                name = f"klish ({variant})" if parse_variant(variant)["method"] == "klish" else variant
                ax.plot(group["train_minutes"], group[metric], style, marker="o", label=name)
            ax.set_title(f"{domain}: {title}" + ("" if row else f", K = {k}"), fontsize=10)
            ax.grid(alpha=0.3)
            if row == len(METRICS) - 1:
                ax.set_xlabel("GAN training minutes (2 CPU cores)")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="+", type=Path, help="generator_study CSV files")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    args = parser.parse_args(argv)
    missing = [str(t) for t in args.tables if not t.exists()]
    if missing:
        raise SystemExit(f"error: no such table: {', '.join(missing)}")
    table = pd.concat([pd.read_csv(t) for t in args.tables], ignore_index=True)
    fig = curve_figure(table, args.k)
    with atomic.atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
