"""Select a profile: `python -m benchmark.profile quick|default` validates profiles/<name>.yaml and makes it the
active params.yaml (atomically). `dvc repro` then runs that profile; `dvc exp run -S key=value` tweaks it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.params import PARAMS_FILE, PROFILES, SECTIONS, ParamsError, parse_section, read_params
from klish import atomic
from klish.errors import KlishError

PROFILE_DIR = Path("profiles")


def validate_profile(path: Path) -> None:
    """Every section of the profile parses strictly."""
    raw = read_params(path)
    for section, cls in SECTIONS.items():
        parse_section(raw, section, cls, path)


def use_profile(name: str, root: Path = Path(".")) -> Path:
    """Copy profiles/<name>.yaml over params.yaml after validating it; returns the params path."""
    if name not in PROFILES:
        raise ParamsError(f"unknown profile {name!r}: expected one of {', '.join(PROFILES)}")
    source = root / PROFILE_DIR / f"{name}.yaml"
    validate_profile(source)
    target = root / PARAMS_FILE
    atomic.write_text(target, source.read_text())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.profile", description=__doc__)
    parser.add_argument("name", help=f"profile name: {', '.join(PROFILES)}")
    args = parser.parse_args(argv)
    try:
        target = use_profile(args.name)
    except KlishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{target} now holds the {args.name!r} profile; run `dvc repro` (or `make repro`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
