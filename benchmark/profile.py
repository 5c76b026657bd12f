"""Select a profile: `python -m benchmark.profile quick|default|external|paper` validates profiles/<name>.yaml and
makes it the active params file of its pipeline (atomically): params.yaml for the world pipeline (quick, default;
then `dvc repro`), pipelines/pretrained/params.yaml for the pretrained-GAN pipeline (external, paper; then
`dvc repro pipelines/pretrained/dvc.yaml`). `dvc exp run -S key=value` tweaks the active one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.params import (
    PIPELINE_OF,
    PIPELINE_PARAMS,
    PIPELINE_SECTIONS,
    PROFILES,
    SECTIONS,
    ParamsError,
    parse_section,
    read_params,
)
from klish import atomic
from klish.errors import KlishError

PROFILE_DIR = Path("profiles")


def validate_profile(path: Path, pipeline: str = "world") -> None:
    """Every section the profile's pipeline reads parses strictly."""
    raw = read_params(path)
    for section in PIPELINE_SECTIONS[pipeline]:
        parse_section(raw, section, SECTIONS[section], path)


def use_profile(name: str, root: Path = Path(".")) -> Path:
    """Copy profiles/<name>.yaml over its pipeline's params file after validating it; returns the params path."""
    if name not in PROFILES:
        raise ParamsError(f"unknown profile {name!r}: expected one of {', '.join(PROFILES)}")
    source = root / PROFILE_DIR / f"{name}.yaml"
    validate_profile(source, PIPELINE_OF[name])
    target = root / PIPELINE_PARAMS[PIPELINE_OF[name]]
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
    command = "dvc repro" if PIPELINE_OF[args.name] == "world" else f"dvc repro {target.parent / 'dvc.yaml'}"
    print(f"{target} now holds the {args.name!r} profile; run `{command}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
