"""`windrisk serve`: byte ranges (PMTiles needs them), MIME types, loopback only."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from windrisk.serve import RangeNotSatisfiable, make_server, parse_range, server_url

BODY = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable mod 256


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A served folder holding a .pmtiles, .js, .css and index.html; yields the base URL."""
    root = tmp_path_factory.mktemp("site")
    (root / "buildings.pmtiles").write_bytes(BODY)
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    (root / "vendor").mkdir()
    (root / "vendor" / "a.js").write_text("var a = 1;")
    (root / "vendor" / "a.css").write_text("body {}")
    server = make_server(root, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_url(server)
    server.shutdown()
    server.server_close()
    thread.join(5)


def fetch(url: str, range_: str | None = None, method: str = "GET") -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive) and body of one request, errors included."""
    request = urllib.request.Request(url, method=method, headers={"Range": range_} if range_ else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=0-0,5-6", None),  # multiple ranges: served whole
        ("items=0-5", None),  # other units: ignored
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=5-2", "bytes=-0", "bytes=-"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_full_file(site: str) -> None:
    status, headers, body = fetch(site + "buildings.pmtiles")
    assert status == 200 and body == BODY
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "application/octet-stream"
    assert int(headers["Content-Length"]) == len(BODY)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-300", 9940, 10239),
        ("bytes=10000-", 10000, 10239),
    ],
)
def test_partial(site: str, header: str, start: int, end: int) -> None:
    status, headers, body = fetch(site + "buildings.pmtiles", header)
    assert status == 206
    assert body == BODY[start : end + 1]
    assert headers["Content-Range"] == f"bytes {start}-{end}/{len(BODY)}"
    assert int(headers["Content-Length"]) == end - start + 1
    assert headers["Accept-Ranges"] == "bytes"


def test_head_with_range_sends_no_body(site: str) -> None:
    status, headers, body = fetch(site + "buildings.pmtiles", "bytes=0-9", method="HEAD")
    assert status == 206 and body == b"" and headers["Content-Length"] == "10"


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-30000", "bytes=9-3"])
def test_invalid_range_416(site: str, header: str) -> None:
    status, headers, _ = fetch(site + "buildings.pmtiles", header)
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize(
    ("path", "mime"),
    [("", "text/html"), ("index.html", "text/html"), ("vendor/a.js", "text/javascript"), ("vendor/a.css", "text/css")],
)
def test_mime_types(site: str, path: str, mime: str) -> None:
    status, headers, _ = fetch(site + path)
    assert status == 200 and headers["Content-Type"].split(";")[0] == mime


def test_missing_file_404(site: str) -> None:
    assert fetch(site + "nope.pmtiles", "bytes=0-9")[0] == 404


def test_binds_loopback_only(tmp_path: Path) -> None:
    server = make_server(tmp_path, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server_url(server).startswith("http://127.0.0.1:")
    finally:
        server.server_close()


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build the map first"):
        make_server(tmp_path / "absent", 0)


def test_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    """Issue 14: a port already taken printed `[Errno 98] Address already in use`."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()  # a listening socket, as a running server has: SO_REUSEADDR cannot share it
        port = busy.getsockname()[1]
        cmd = [sys.executable, "-m", "windrisk.cli", "serve", "--dir", str(tmp_path), "--port", str(port)]
        # A timeout, not a hang, should the server ever bind anyway.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Errno" not in proc.stderr, proc.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port 0" in proc.stderr
