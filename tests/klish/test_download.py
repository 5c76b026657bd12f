"""Verified fetching against a real HTTP server on 127.0.0.1: a good file, a wrong hash, a truncated transfer, a
404, the server gone mid-transfer and then resumed; local paths and wheel files. Every failure is one line and
leaves nothing under the file's final name."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from klish.download import fetch
from klish.errors import KlishError

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good honours Range; /missing is a 404; /truncated and /gone send half the bytes they announce (/gone then
    stops the whole server)."""

    ranges: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        _Handler.ranges.append(self.headers.get("Range", ""))
        if self.path == "/missing":
            self.send_error(404, "Not Found")
            return
        start = 0
        if self.path == "/good" and self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in ("/truncated", "/gone"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if self.path == "/gone":
                threading.Thread(target=_stop, args=(self.server,), daemon=True).start()
            return
        self.wfile.write(body)


def _stop(server: http.server.HTTPServer) -> None:
    server.shutdown()
    server.server_close()


@contextmanager
def serve() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_good_file_then_cached(tmp_path):
    with serve() as url:
        got = fetch(f"{url}/good", SHA, tmp_path, progress=False)
        assert got.path == tmp_path / SHA and got.path.read_bytes() == PAYLOAD and not got.cached
        again = fetch(f"{url}/missing", SHA, tmp_path, progress=False)  # verified copy reused, no request
        assert again.cached and again.path == got.path


@pytest.mark.parametrize("path, message", [
    ("/missing", "HTTP 404 Not Found"),
    ("/truncated", "transfer truncated at"),
])
def test_failures_are_one_line_and_leave_no_file(tmp_path, path, message):
    with serve() as url, pytest.raises(KlishError, match=message) as info:
        fetch(f"{url}{path}", SHA, tmp_path, progress=False)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{url}{path}: ")
    assert not (tmp_path / SHA).exists()


def test_wrong_hash_deletes_the_download(tmp_path):
    wrong = "0" * 64
    with serve() as url, pytest.raises(KlishError, match="sha256 .* does not match the expected 0000000000000000"):
        fetch(f"{url}/good", wrong, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_server_gone_mid_transfer_then_resumed(tmp_path):
    with serve() as url:
        with pytest.raises(KlishError, match="transfer truncated at|connection lost after"):
            fetch(f"{url}/gone", SHA, tmp_path, progress=False)
        with pytest.raises(KlishError, match="cannot connect"):  # the server is gone now
            fetch(f"{url}/gone", SHA, tmp_path, timeout=2, progress=False)
    assert not (tmp_path / SHA).exists()
    kept = (tmp_path / f"{SHA}.part").stat().st_size
    assert 0 < kept < len(PAYLOAD)
    _Handler.ranges.clear()
    with serve() as url:  # a new server: the next run asks only for the missing bytes
        got = fetch(f"{url}/good", SHA, tmp_path, progress=False)
    assert got.resumed_from == kept and _Handler.ranges == [f"bytes={kept}-"]
    assert got.path.read_bytes() == PAYLOAD and not (tmp_path / f"{SHA}.part").exists()


def test_local_path_file_url_and_wheel(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    assert fetch(str(source), SHA, tmp_path / "c1", progress=False).path.read_bytes() == PAYLOAD
    assert fetch(source.as_uri(), SHA, tmp_path / "c2", progress=False).path.read_bytes() == PAYLOAD
    with pytest.raises(KlishError, match="nope.bin: file not found"):
        fetch(str(tmp_path / "nope.bin"), SHA, tmp_path / "c3", progress=False)
    with pytest.raises(KlishError, match="package 'not_a_package_here' is not installed"):
        fetch("wheel:not_a_package_here/x.pt", SHA, tmp_path / "c4", progress=False)
    with pytest.raises(KlishError, match="expected sha256 must be 64 hex digits"):
        fetch(str(source), "abc", tmp_path / "c5", progress=False)


def test_unpinned_source_is_hashed_not_verified_and_the_hash_is_logged(tmp_path, caplog):
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    fetched = fetch(str(source), None, tmp_path / "cache", progress=False)
    assert not fetched.pinned and fetched.sha256 == SHA and fetched.path == tmp_path / "cache" / SHA
    assert fetched.path.read_bytes() == PAYLOAD and not list((tmp_path / "cache").glob("*.part"))
    assert f"its sha256 is {SHA}" in caplog.text
    assert fetch(str(source), SHA, tmp_path / "cache", progress=False).cached  # pinning it then hits the cache
