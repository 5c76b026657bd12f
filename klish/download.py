"""Verified fetching of a file: an http(s) or file URL, a local path, or `wheel:<package>/<file>` is copied into a
content-addressed cache (`<cache>/<sha256>`) only after its sha256 matches. An interrupted HTTP transfer keeps
`<cache>/<sha256>.part` and the next call resumes it with a Range request; a file with the wrong hash is deleted.
Every failure is one KlishError line, and the cache never holds an unverified file under its final name."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from klish.errors import KlishError
from klish.pretrained import WHEEL_PREFIX, wheel_file

log = logging.getLogger(__name__)

BLOCK = 1 << 20


@dataclass(frozen=True)
class Fetched:
    """A verified local copy of a source, and how it got there."""

    path: Path
    source: str
    sha256: str
    n_bytes: int
    resumed_from: int  # bytes already on disk from an interrupted transfer (0: a fresh transfer or a copy)
    cached: bool  # the verified file was already in the cache
    seconds: float
    pinned: bool = True  # False: no expected sha256 was given, so the file was hashed, not verified


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, part: Path, timeout: float, progress: bool) -> int:
    """Append `url`'s bytes to `part`, resuming from its current size when the server honours Range; returns the
    byte count that was already there."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http, https and file URLs)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already complete
            return have
        raise KlishError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KlishError(f"{url}: cannot connect ({reason})") from None
    with response:
        resumed = have if getattr(response, "status", 200) == 206 else 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, "ab" if resumed else "wb") as handle, \
                tqdm(total=None if expected is None else resumed + expected, initial=resumed, unit="B",
                     unit_scale=True, desc=f"fetch {Path(url).name}", disable=None if progress else True,
                     mininterval=1.0) as bar:  # None: a bar on a terminal only
            try:
                while chunk := response.read(BLOCK):
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as exc:
                handle.flush()
                raise KlishError(f"{url}: connection lost after {resumed + received} bytes "
                                 f"({type(exc).__name__}); the partial file is kept and the next run resumes it") \
                    from None
        if expected is not None and received < expected:
            raise KlishError(f"{url}: transfer truncated at {resumed + received} of {resumed + expected} bytes; the "
                             f"partial file is kept and the next run resumes it")
    return resumed


def _transfer(source: str, part: Path, timeout: float, progress: bool) -> int:
    """Download or copy `source` into `part` (resuming a download); returns the bytes resumed from."""
    if source.startswith(("http://", "https://")):
        return _download(source, part, timeout, progress)
    local = source
    if source.startswith("file://"):
        local = urllib.request.url2pathname(source[len("file://"):])
    path = wheel_file(source) if source.startswith(WHEEL_PREFIX) else Path(local)
    if not path.is_file():
        raise KlishError(f"{source}: file not found")
    with open(path, "rb") as src, open(part, "wb") as dst:
        shutil.copyfileobj(src, dst, BLOCK)
    return 0


def _fetch_unpinned(source: str, cache: Path, timeout: float, progress: bool, start: float) -> Fetched:
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"unpinned-{hashlib.sha256(source.encode()).hexdigest()[:16]}.part"
    resumed = _transfer(source, part, timeout, progress)
    actual = _sha256(part)
    final = cache / actual
    os.replace(part, final)
    log.warning("%s has no sha256 in params, so it was not verified; its sha256 is %s: pin it to verify later "
                "fetches", source, actual)
    return Fetched(final, source, actual, final.stat().st_size, resumed, False, time.perf_counter() - start,
                   pinned=False)


def fetch(source: str, sha256: str | None, cache: str | os.PathLike, *, timeout: float = 60.0,
          progress: bool = True) -> Fetched:
    """A verified copy of `source` at `<cache>/<sha256>`; an existing verified copy is reused.

    `sha256=None` (a source whose hash nobody has pinned yet) fetches it every time, hashes it, warns with the hash
    to pin, and returns it with `pinned=False`."""
    start = time.perf_counter()
    if sha256 is None:
        return _fetch_unpinned(source, Path(cache), timeout, progress, start)
    sha256 = sha256.lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise KlishError(f"{source}: expected sha256 must be 64 hex digits, got {sha256!r}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    final, part = cache / sha256, cache / f"{sha256}.part"
    if final.is_file() and _sha256(final) == sha256:
        return Fetched(final, source, sha256, final.stat().st_size, 0, True, time.perf_counter() - start)
    resumed = _transfer(source, part, timeout, progress)
    actual = _sha256(part)
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise KlishError(f"{source}: sha256 {actual[:16]}... does not match the expected {sha256[:16]}... (a "
                         f"different or damaged file; deleted)")
    os.replace(part, final)
    log.info("fetched %s (%d bytes, sha256 verified) into %s", source, final.stat().st_size, final)
    return Fetched(final, source, sha256, final.stat().st_size, resumed, False, time.perf_counter() - start)
