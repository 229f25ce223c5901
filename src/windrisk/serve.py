"""``windrisk serve``: serve the map page and PMTiles on 127.0.0.1 with HTTP range requests.

PMTiles are read by byte ranges, which ``python -m http.server`` does not support; this is the
same stdlib server with ``Range: bytes=...`` (206 / 416) and the MIME types the page needs.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, ClassVar

HOST = "127.0.0.1"  # never another interface: the results are not meant to be published
DEFAULT_PORT = 8000
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes outside the file (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range`` header → inclusive (start, end) within ``size`` bytes; None to send it all.

    Raises RangeNotSatisfiable for ranges outside the file or with end < start. Other units
    and multiple ranges are ignored (a full 200 reply), as RFC 9110 allows.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable(header)
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(header)
    return start, end


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Static files with byte ranges, explicit MIME types and no caching of rebuilt outputs."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".pmtiles": "application/octet-stream",
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html",
        ".json": "application/json",
        ".geojson": "application/geo+json",
        ".txt": "text/plain",
    }

    protocol_version = "HTTP/1.1"  # keep-alive: a map view makes dozens of small range requests
    _remaining: int | None = None

    def end_headers(self) -> None:
        """Advertise byte ranges and forbid stale caching on every reply."""
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self) -> BinaryIO | None:  # type: ignore[override]
        """Like the base class, but answers a valid Range header with 206 and that slice."""
        self._remaining = None
        path = Path(self.translate_path(self.path))
        if path.is_dir() or "Range" not in self.headers:
            return super().send_head()  # directory index / redirect, or a plain 200
        try:
            f = path.open("rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        stat = os.fstat(f.fileno())
        size = stat.st_size
        try:
            span = parse_range(self.headers["Range"], size)
        except RangeNotSatisfiable:
            f.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if span is None:
            f.close()
            return super().send_head()
        start, end = span
        f.seek(start)
        self._remaining = end - start + 1
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(self._remaining))
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        self.end_headers()
        return f

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        """Copy the whole file, or only the requested range's bytes."""
        if self._remaining is None:
            shutil.copyfileobj(source, outputfile)
            return
        remaining = self._remaining
        while remaining > 0:
            chunk = source.read(min(remaining, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, format: str, *args: object) -> None:
        """Log each request to stderr unless the server is ``quiet``."""
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


class MapServer(ThreadingHTTPServer):
    """A threaded server that drops clients quietly when they hang up mid-transfer."""

    daemon_threads = True
    quiet = False

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the browser cancelled a tile request: normal while panning
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def make_server(directory: str | Path, port: int = 0, quiet: bool = False) -> MapServer:
    """A server for ``directory`` bound to 127.0.0.1:``port`` (0 picks a free port)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory} is not a folder; build the map first (snakemake --cores all) or pass --dir"
        )
    handler = partial(RangeRequestHandler, directory=str(directory))
    server = MapServer((HOST, port), handler)
    server.quiet = quiet
    return server


def server_url(server: MapServer) -> str:
    """The ``http://host:port/`` address the server listens on."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def tiles_dir_from_config(configfile: str | Path) -> Path:
    """The folder of the map page for the config's ``results`` (relative to the current dir)."""
    from windrisk.paths import RunPaths
    from windrisk.settings import load_settings

    return Path(RunPaths(load_settings(configfile).results).map_page).parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options of ``windrisk serve``."""
    parser = argparse.ArgumentParser(prog="windrisk serve", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--configfile", help="workflow config; serves <results>/tiles")
    where.add_argument("--dir", help="folder to serve (default results/tiles)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Serve until Ctrl-C; print the URL first."""
    args = parse_args(argv)
    try:
        if args.configfile:
            directory = tiles_dir_from_config(args.configfile)
        else:
            directory = Path(args.dir or "results/tiles")
        server = make_server(directory, args.port, quiet=args.quiet)
    except (OSError, ValueError) as exc:  # missing folder, port in use, bad config
        message = str(exc)
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            # Usually an earlier `windrisk serve` still running: name the port and the way out
            # instead of "[Errno 98] Address already in use".
            message = (
                f"port {args.port} on {HOST} is already in use (another windrisk serve still running?); "
                "pass --port 0 to pick a free port, or --port N for another one"
            )
        print(f"windrisk serve: {message}", file=sys.stderr)
        return 1
    if not (directory / "index.html").is_file():
        print(f"windrisk serve: warning: {directory}/index.html does not exist yet", file=sys.stderr)
    print(f"Serving {directory.resolve()} at {server_url(server)} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
