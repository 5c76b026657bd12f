"""Stage pretrained_page: the leaderboard of the pretrained-GAN pipeline. Per GAN of pretrained.gans: its model card
and source (the converted checkpoint's sidecar), its samples, and the label_free stage's tables and figures (mask
grids, agreement across seeds, ARI between methods, KLiSH's merge curve). No ground truth exists for these GANs, so
nothing is ranked. Writes `leaderboard.md` (pictures linked) and a self-contained `index.html`."""

from __future__ import annotations

import argparse
import html
from pathlib import Path

from benchmark.cli import run
from benchmark.json_inputs import read_json
from benchmark.leaderboard import _img
from benchmark.params import load_section
from klish import atomic
from klish.errors import KlishError

PARAMS = ("base", "pretrained")
FIGURES = (("samples", "Samples (fixed seed)"), ("masks", "Masks of every method (seed 0) at each K"),
           ("between_methods", "ARI between methods"), ("merge_curve", "KLiSH merge curve"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stages.pretrained_page", description=__doc__)
    for option, help_text in (("checkpoints", "folder of converted checkpoints (<gan>/generator.json)"),
                              ("fetch", "fetch_checkpoint results (<gan>/samples.png)"),
                              ("label-free", "label_free results (<gan>/README.md and figures)"),
                              ("out", "folder for leaderboard.md and index.html")):
        parser.add_argument(f"--{option}", required=True, type=Path, help=help_text)
    return parser


def figure_paths(fetch: Path, label_free: Path, gan: str) -> dict[str, Path]:
    """The GAN's pictures that exist, by name."""
    paths = {"samples": fetch / gan / "samples.png", **{name: label_free / gan / f"{name}.png"
                                                       for name, _ in FIGURES[1:]}}
    return {name: path for name, path in paths.items() if path.is_file()}


def _main(args: argparse.Namespace) -> None:
    base, p = load_section("base"), load_section("pretrained")
    md = [f"# Pretrained GANs ({base.profile} profile): label-free clusterings", "",
          "No labels exist for these GANs: the tables say how stable each method is across seeds and how much the "
          "methods agree, not which is right.", ""]
    page = ["<!doctype html><html><head><meta charset='utf-8'><title>klish-bench: pretrained GANs</title><style>",
            "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
            "img{max-width:100%;image-rendering:pixelated}", "</style></head><body>",
            f"<h1>Pretrained GANs ({html.escape(base.profile)} profile): label-free clusterings</h1>",
            f"<p>{html.escape(md[2])}</p>"]
    for gan in p.gans:
        sidecar = read_json(args.checkpoints / gan / "generator.json", "checkpoint sidecar not found (run "
                            f"fetch_checkpoint@{gan})", KlishError)
        readme = args.label_free / gan / "README.md"
        if not readme.is_file():
            raise KlishError(f"{readme}: not found (run label_free@{gan})")
        tables = readme.read_text().split("\n", 2)[2].replace("\n## ", "\n### ")
        facts = ", ".join(f"{k}: {v}" for k, v in p.models.get(gan, {}).items())
        md += [f"## {gan}", "", f"Source `{sidecar.get('source')}` (sha256 {sidecar.get('source_sha256', '?')[:12]}"
               f"...), layout `{sidecar.get('layout')}`, {sidecar.get('n_parameters')} parameters. {facts}", "",
               f"Model card: {sidecar.get('card') or 'none recorded'}", "", tables, ""]
        page += [f"<h2>{html.escape(gan)}</h2>", f"<p>Source <code>{html.escape(str(sidecar.get('source')))}</code>, "
                 f"layout <code>{html.escape(str(sidecar.get('layout')))}</code>, {sidecar.get('n_parameters')} "
                 f"parameters. {html.escape(facts)}</p>",
                 f"<p>Model card: {html.escape(sidecar.get('card') or 'none recorded')}</p>"]
        for name, path in figure_paths(args.fetch, args.label_free, gan).items():
            title = dict(FIGURES)[name]
            relative = Path("..", path.relative_to(path.parents[2]))
            md += [f"**{title}**", "", f"![{title}]({relative.as_posix()})", ""]
            page.append(f"<h3>{title}</h3>{_img(path.read_bytes(), title)}")
        page.append(f"<pre>{html.escape(tables)}</pre>")
    page.append("</body></html>")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out / "leaderboard.md", "\n".join(md))
    atomic.write_text(args.out / "index.html", "\n".join(page))


def main(argv: list[str] | None = None) -> int:
    return run(_main, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
