"""safetensors files with the same bytes for the same content.

safetensors (0.8) writes the `__metadata__` mapping in hash order, which changes from process to process: two saves
of bit-identical tensors get different files, and DVC re-runs everything downstream for nothing. Here the header is
re-serialised with the metadata keys sorted (tensor entries keep safetensors' own, already deterministic order), and
padded with spaces to 8 bytes as the format asks. The file is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from klish import atomic

HEADER_LENGTH_BYTES = 8


def canonical(data: bytes) -> bytes:
    """`data` (a serialised safetensors file) with its header's `__metadata__` keys in sorted order."""
    n = int.from_bytes(data[:HEADER_LENGTH_BYTES], "little")
    header = json.loads(data[HEADER_LENGTH_BYTES:HEADER_LENGTH_BYTES + n])
    if "__metadata__" in header:
        header = {"__metadata__": dict(sorted(header["__metadata__"].items())),
                  **{k: v for k, v in header.items() if k != "__metadata__"}}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(HEADER_LENGTH_BYTES + len(text)) % 8)
    return len(text).to_bytes(HEADER_LENGTH_BYTES, "little") + text + data[HEADER_LENGTH_BYTES + n:]


def save_tensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                 metadata: Mapping[str, str] | None = None) -> None:
    """Write torch tensors or numpy arrays (all of one kind) to `path` as safetensors, byte-deterministic and atomic.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> save_tensors(path, {"w": np.ones(2, np.float32)}, {"b": "2", "a": "1"})
    >>> path.read_bytes()[8:30]
    b'{"__metadata__":{"a":"'
    """
    meta = dict(metadata) if metadata is not None else None
    if all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save
    else:
        from safetensors.torch import save
    atomic.write_bytes(path, canonical(save(dict(tensors), metadata=meta)))
