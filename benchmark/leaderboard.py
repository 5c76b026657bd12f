"""The leaderboard: every task's metric files (one per domain, method and seed) summarised as mean ± std over seeds
(never the best run), written as a long CSV, Markdown tables (best in bold) and a self-contained HTML page that opens
with a one-screen summary (each task's headline metric, methods x domains with the reference rows, and a mask strip)
followed by the detail (bar charts, and per domain and method a strip of samples with their masks); and the stages'
own recorded times, summed per stage, for the results page."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.data.names import WORLD_DOMAINS  # noqa: E402
from klish.errors import KlishError  # noqa: E402

COLUMNS = ["task", "domain", "method", "metric", "mean", "std", "n_seeds", "higher_is_better"]
DOMAINS = WORLD_DOMAINS  # their order first; other names (datasets, GANs) follow in file order


@dataclass(frozen=True)
class Cell:
    """Where one (task, domain, method, seed) metric file is, and which of its entries are leaderboard metrics:
    `metrics` maps a leaderboard name to (key in the file, sub-key or None, higher_is_better); `entry`, if set, is
    the file's top-level key that holds this cell (files with one entry per seed)."""

    task: str
    domain: str
    method: str
    seed: str
    path: Path
    metrics: dict[str, tuple[str, str | None, bool]]
    entry: str | None = None


def read_cells(cells: Iterable[Cell]) -> pd.DataFrame:
    """One row per (task, domain, method, seed, metric) with its value; a missing or malformed file is an error."""
    rows = []
    for cell in cells:
        if not cell.path.is_file():
            raise KlishError(f"{cell.path}: metrics missing (run the {cell.task} stage for {cell.domain}/"
                             f"{cell.method}/{cell.seed})")
        try:
            data = json.loads(cell.path.read_text())
        except json.JSONDecodeError as exc:
            raise KlishError(f"{cell.path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if cell.entry is not None:
            if not isinstance(data.get(cell.entry), dict):
                raise KlishError(f"{cell.path}: no entry {cell.entry!r} (run the {cell.task} stage for "
                                 f"{cell.domain}/{cell.method})")
            data = data[cell.entry]
        for name, (key, sub, higher) in cell.metrics.items():
            value = data.get(key)
            if sub is not None:
                value = value.get(sub) if isinstance(value, dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise KlishError(f"{cell.path}: {key}{'.' + sub if sub else ''} is missing or not a finite number")
            rows.append({"task": cell.task, "domain": cell.domain, "method": cell.method, "seed": cell.seed,
                         "metric": name, "value": float(value), "higher_is_better": higher})
    if not rows:
        raise KlishError("the leaderboard has no metric file to read")
    return pd.DataFrame(rows)


def summarise(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and seed count per (task, domain, method, metric): the long format."""
    keys = ["task", "domain", "method", "metric", "higher_is_better"]
    out = values.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out[COLUMNS]


def _domains(frame: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(frame["domain"]))
    return [d for d in DOMAINS if d in present] + [d for d in present if d not in DOMAINS]


def wide_tables(summary: pd.DataFrame, references: Mapping[str, str] | None = None
                ) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """Per (task, metric): (task, metric, cells "mean ± std" [methods x domains], is-best mask) in file order.
    `references` maps reference methods (floors, ceilings, upper bounds) to their role: they are labelled
    "method (role)" and never marked best, which is a contest among the methods under test."""
    references = dict(references or {})
    out = []
    for (task, metric), block in summary.groupby(["task", "metric"], sort=False):
        higher = bool(block["higher_is_better"].iloc[0])
        methods = list(dict.fromkeys(block["method"]))
        domains = _domains(block)
        means = block.pivot(index="method", columns="domain", values="mean").reindex(index=methods, columns=domains)
        stds = block.pivot(index="method", columns="domain", values="std").reindex(index=methods, columns=domains)
        contest = means.drop(index=[m for m in methods if m in references])
        best = means.eq(contest.max() if higher else contest.min()) & means.notna()
        best.loc[[m for m in methods if m in references]] = False
        labels = [f"{m} ({references[m]})" if m in references else m for m in methods]
        cells = pd.DataFrame([[f"{means.at[m, d]:.3f} ± {stds.at[m, d]:.3f}" if pd.notna(means.at[m, d]) else "–"
                               for d in domains] for m in methods], index=labels, columns=means.columns)
        best.index = labels
        out.append((task, metric, cells, best))
    return out


def markdown(summary: pd.DataFrame, notes: dict[str, str], references: Mapping[str, str] | None = None) -> str:
    """A section per task, a table per metric: rows methods, columns domains, mean ± std, best in bold."""
    lines = ["# klish-bench leaderboard", "", "Mean ± std over seeds (never the best run); best per column in bold "
             "(reference rows, labelled with their role in brackets, are never bold). Generated from the "
             "DVC-tracked metric files by `python -m benchmark.stages.leaderboard`.", ""]
    current = None
    for task, metric, cells, best in wide_tables(summary, references):
        if task != current:
            lines += [f"## {task}", ""] + ([notes[task], ""] if task in notes else [])
            current = task
        seeds = summary[(summary.task == task) & (summary.metric == metric)]["n_seeds"]
        shown = cells.where(~best, "**" + cells + "**")
        lines += [f"### {metric} ({seeds.min()}–{seeds.max()} seeds)" if seeds.min() != seeds.max()
                  else f"### {metric} ({seeds.min()} seed{'s' if seeds.min() > 1 else ''})", "",
                  shown.to_markdown(), ""]
    return "\n".join(lines)


def bar_chart(block: pd.DataFrame, title: str) -> bytes:
    """A grouped bar chart (domains on x, one bar per method, std as error bars), as PNG bytes."""
    methods = list(dict.fromkeys(block["method"]))
    domains = _domains(block)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(domains), 2.8), dpi=100)
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        rows = block[block.method == method].set_index("domain").reindex(domains)
        ax.bar(np.arange(len(domains)) + (i - (len(methods) - 1) / 2) * width, rows["mean"], width,
               yerr=rows["std"], capsize=2, label=method)
    ax.set_xticks(np.arange(len(domains)), domains)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def headline_tables(summary: pd.DataFrame, headlines: Mapping[str, str],
                    references: Mapping[str, str] | None = None) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """The tables of `wide_tables` for each task's headline metric (`headlines`: task -> metric), in that order."""
    tables = {(task, metric): (cells, best) for task, metric, cells, best in wide_tables(summary, references)}
    return [(task, metric, *tables[(task, metric)]) for task, metric in headlines.items() if (task, metric) in tables]


def _html_table(cells: pd.DataFrame, best: pd.DataFrame) -> str:
    header = "".join(f"<th>{d}</th>" for d in cells.columns)
    rows = "".join(
        f"<tr><th>{method}</th>" + "".join(f"<td class='{'best' if best.loc[method, d] else ''}'>"
                                           f"{cells.loc[method, d]}</td>" for d in cells.columns) + "</tr>"
        for method in cells.index)
    return f"<table><tr><th>method</th>{header}</tr>{rows}</table>"


def summary_section(summary: pd.DataFrame, headlines: Mapping[str, str], references: Mapping[str, str] | None,
                    strip: tuple[str, Path] | None) -> str:
    """The page's first screen: one compact table per task (its headline metric) and one mask strip (caption, PNG)."""
    boxes = [f"<div class='box'><h3>{task}: {metric}</h3>{_html_table(cells, best)}</div>"
             for task, metric, cells, best in headline_tables(summary, headlines, references)]
    picture = (f"<figure class='box'>{_img(strip[1].read_bytes(), strip[0])}<figcaption>{strip[0]}</figcaption>"
               "</figure>" if strip else "")
    return ("<section id='summary'><h2>Summary</h2><p>Each task's headline metric, mean ± std over seeds; the detail "
            "of every metric follows below.</p><div class='summary'>" + picture + "".join(boxes) + "</div></section>")


def html_page(summary: pd.DataFrame, strips: dict[tuple[str, str], Path], notes: dict[str, str],
              references: Mapping[str, str] | None = None, figures: Mapping[str, bytes] | None = None,
              galleries: Mapping[str, Mapping[tuple[str, str], Path]] | None = None,
              headlines: Mapping[str, str] | None = None) -> str:
    """The self-contained page: first the summary (each task's headline metric from `headlines`, task -> metric, and
    the first of `strips`); then per task and metric a table and a bar chart (after the task's note, its figure from
    `figures`, a PNG, if any); then, per domain and method, a strip of samples with their masks (`strips` maps
    (domain, method) to a PNG); then each of `galleries` (title -> such a mapping) as its own section."""
    figures = dict(figures or {})
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>klish-bench leaderboard</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
             "td.best{font-weight:bold;background:#eaf6ea}img{max-width:100%;image-rendering:pixelated}"
             ".metric{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}h3{margin-bottom:.2em}"
             ".summary{display:flex;gap:1.2em;flex-wrap:wrap;font-size:12px}.summary h3{font-size:13px;margin:.2em 0}"
             ".summary td,.summary th{padding:.1em .4em}figure{margin:0;max-width:420px}figure img{max-height:170px}",
             "</style></head><body><h1>klish-bench leaderboard</h1>",
             "<p>Mean ± std over seeds (never the best run); best per column in bold (reference rows, labelled with "
             "their role in brackets, are never bold).</p>"]
    if headlines:
        first = next(iter(strips.items()), None)
        parts.append(summary_section(summary, headlines, references,
                                     (f"synthetic dataset {first[0][0]} / {first[0][1]}: images, masks, overlays",
                                      first[1]) if first else None))
        parts.append("<h2 id='detail'>Detail</h2>")
    current = None
    for task, metric, cells, best in wide_tables(summary, references):
        if task != current:
            parts.append(f"<h2 id='{task}'>{task}</h2>" + (f"<p>{notes[task]}</p>" if task in notes else "")
                         + (_img(figures[task], f"{task} figure") if task in figures else ""))
            current = task
        block = summary[(summary.task == task) & (summary.metric == metric)]
        parts.append(f"<h3>{metric}</h3><div class='metric'>{_html_table(cells, best)}"
                     f"{_img(bar_chart(block, f'{task}: {metric}'), metric)}</div>")
    sections = {"Samples and masks": strips, **dict(galleries or {})}
    for i, (title, pictures) in enumerate(sections.items()):
        if pictures:
            parts.append(f"<h2 id='{'samples' if i == 0 else f'gallery{i}'}'>{title}</h2>")
            for (domain, method), path in pictures.items():
                parts.append(f"<h3>{domain} / {method}</h3>{_img(path.read_bytes(), f'{domain} {method}')}")
    parts.append("</body></html>")
    return "\n".join(parts)


def label_fraction_plot(block: pd.DataFrame, prefix: str, suffix: str) -> bytes:
    """Mean metric against label percentage (log x), one panel per domain, one line per method, std as error bars;
    the metrics are named `<prefix><percent><suffix>`. PNG bytes."""
    rows = block[block["metric"].str.startswith(prefix) & block["metric"].str.endswith(suffix)].copy()
    rows["percent"] = [float(m[len(prefix):len(m) - len(suffix)]) for m in rows["metric"]]
    domains = _domains(rows)
    fig, axes = plt.subplots(1, len(domains), figsize=(1.8 + 3.6 * len(domains), 3.0), dpi=100, squeeze=False)
    for ax, domain in zip(axes[0], domains):
        for method, line in rows[rows.domain == domain].groupby("method", sort=False):
            line = line.sort_values("percent")
            ax.errorbar(line["percent"], line["mean"], yerr=line["std"], marker="o", ms=3, capsize=2, label=method)
        ax.set_xscale("log")
        ax.set_xlabel("labels used (%)")
        ax.set_title(domain, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(prefix.rstrip("_").replace("_", " "))
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside the panels, not on a line
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def fractions_of(summary: pd.DataFrame, task: str, metric: str, reference: str) -> pd.DataFrame:
    """Each method's mean `metric` of `task` as a fraction of the `reference` method's, per domain."""
    block = summary[(summary.task == task) & (summary.metric == metric)]
    means = block.pivot(index="method", columns="domain", values="mean")
    if reference not in means.index:
        return pd.DataFrame()
    return (means / means.loc[reference]).drop(index=reference).reindex(columns=_domains(block))


def strips_for(root: Path, domains: Sequence[str], methods: Sequence[str], seed: str | None,
               name: str = "preview.png") -> dict[tuple[str, str], Path]:
    """The pictures `root/<domain>/<method>/<seed>/<name>` that exist (no seed folder when `seed` is None): by
    default the synthetic datasets' preview grids (images, masks, overlays)."""
    found = {}
    for domain in domains:
        for method in methods:
            path = root / domain / method / (seed or "") / name
            if path.is_file():
                found[(domain, method)] = path
    return found


def _seconds(entry: Mapping[str, object]) -> float:
    """A metric file's (or per-seed entry's) own recorded time: `wall_seconds`, else the sum of its `*_seconds`."""
    if isinstance(entry.get("wall_seconds"), (int, float)):
        return float(entry["wall_seconds"])  # type: ignore[arg-type]
    total = 0.0
    for key, value in entry.items():
        if isinstance(value, Mapping):
            total += _seconds(value)
        elif key.endswith("_seconds") and isinstance(value, (int, float)) and not isinstance(value, bool):
            total += float(value)
    return total


def stage_seconds(folders: Sequence[Path]) -> pd.DataFrame:
    """Per stage (a results folder named after it): how many metric files it wrote and the seconds they record,
    summed (time inside the stages: Python, torch, MLflow and DVC start-up come on top)."""
    rows = []
    for folder in folders:
        files = sorted(folder.rglob("*.json"))
        seconds = [_seconds(json.loads(f.read_text())) for f in files]
        rows.append({"stage": folder.name, "metric_files": len(files), "seconds": round(sum(seconds), 1)})
    return pd.DataFrame(rows, columns=["stage", "metric_files", "seconds"])


def results_page(summary: pd.DataFrame, headlines: Mapping[str, str], references: Mapping[str, str] | None,
                 notes: Mapping[str, str], timings: pd.DataFrame, profile: str) -> str:
    """results/README.md: what the pipeline found (each task's headline table and note) and what each stage took,
    generated from the metric files so it cannot drift from them."""
    lines = ["# Results", "", "Generated by `python -m benchmark.stages.leaderboard` from the DVC-tracked metric files "
             f"of the `{profile}` profile; do not edit. Every metric: [leaderboard/leaderboard.md]"
             "(leaderboard/leaderboard.md); the page with pictures: `leaderboard/index.html`.", "",
             "Mean ± std over seeds (never the best run); best per column in bold; reference rows are labelled with "
             "their role and never bold.", ""]
    for task, metric, cells, best in headline_tables(summary, headlines, references):
        lines += [f"## {task}: {metric}", ""] + ([notes[task], ""] if task in notes else [])
        lines += [cells.where(~best, "**" + cells + "**").to_markdown(), ""]
    total = float(timings["seconds"].sum()) if len(timings) else 0.0
    lines += ["## Stage times", "", f"Seconds each stage recorded inside itself, summed over its matrix cells "
              f"({total / 60:.1f} minutes in all); start-up (about 8 s per stage process) and DVC's bookkeeping come "
              "on top.", "", timings.to_markdown(index=False), ""]
    return "\n".join(lines)
