"""Tables that tools write for people: Markdown (with the command that made it) and CSV side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from klish import atomic


def write_table(out: Path, title: str, module: str, argv: list[str] | None, table: pd.DataFrame) -> None:
    """`<out>.csv` and `<out>.md` (a heading, the `python -m <module> ...` command line, the table), atomically."""
    command = f"python -m {module} " + " ".join(sys.argv[1:] if argv is None else argv)
    atomic.write_text(out.with_suffix(".csv"), table.to_csv(index=False))
    atomic.write_text(out.with_suffix(".md"), f"# {title}\n\n`{command}`\n\n" + table.to_markdown(index=False) + "\n")
