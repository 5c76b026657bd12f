"""What every stage entry point shares: logging set-up and turning a project error into one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from klish.errors import KlishError

EXIT_USER_ERROR = 2


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
        main(args)
    except KlishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
