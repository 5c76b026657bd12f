"""Reading a JSON file another stage wrote, with one line naming the file when it is missing or unreadable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from klish.errors import KlishError


def read_json(path: str | Path, missing: str, error: type[KlishError] = KlishError) -> Any:
    """The parsed JSON at `path`; a missing file is an `error` ending with `missing` (what to run), a corrupt one names
    the position."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {missing}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
