"""What every stage entry point shares: logging set-up and turning a project error into one line and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from klish.errors import KlishError

EXIT_USER_ERROR = 2
# When set, a stage that finishes appends one JSON line to this file: its entry module, the project files it ran and
# the params sections it loaded (the e2e tests hold them against each stage's deps and params in dvc.yaml).
TRACE_ENV = "KLISH_BENCH_TRACE"


def setup_logging() -> None:
    """INFO-level logging to stderr with a short format."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def stage_parser(name: str, description: str | None, paths: dict[str, str],
                 methods: tuple[str, ...] | None = None, per_seed: bool = True) -> argparse.ArgumentParser:
    """The command line of stage `name`: `--domain` plus one required path option per entry of `paths` (help text);
    with `methods`, also the `--method` and (when `per_seed`) the `--seed` (index into params' seeds) of a cell."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmark.stages.{name}", description=description)
    parser.add_argument("--domain", required=True,
                        help="world domain (face, car, animal) or, in pipelines/pretrained, the pretrained GAN's name")
    if methods:
        parser.add_argument("--method", required=True, choices=methods, help="clustering method")
        if per_seed:
            parser.add_argument("--seed", required=True, type=int, help="seed index into the section's seeds")
    for option, help_text in paths.items():
        parser.add_argument(f"--{option}", required=True, type=Path, help=help_text)
    return parser


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse `argv`, run `main`, and map a project error to one stderr line and exit code 2."""
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if "benchmark.tracking" in sys.modules:  # a stage that records MLflow runs: is the store writable?
            sys.modules["benchmark.tracking"].check_store()
        main(args)
    except KlishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    if os.environ.get(TRACE_ENV):
        _append_trace(Path(os.environ[TRACE_ENV]), parser.prog.split()[-1])
    return 0


def _append_trace(path: Path, entry: str) -> None:
    from benchmark.params import sections_read

    root = Path(__file__).resolve().parents[1]
    loaded = [Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
    files = sorted({f.relative_to(root).as_posix() for f in loaded if f.is_relative_to(root)
                    and f.relative_to(root).parts[0] in ("klish", "benchmark")})
    with path.open("a") as handle:  # a test's log, not a pipeline output: appending is what it is for
        handle.write(json.dumps({"entry": entry, "files": files, "sections": sections_read()}) + "\n")
