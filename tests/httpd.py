"""A real HTTP server on loopback for download tests, and builders of archive members."""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"


@dataclass
class State:
    """What the test server serves, and what it was asked for."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    slow_seconds: float = 1.5
    huge_bytes: int = 5_000_000
    etag_version: int = 1
    hits: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)


class Handler(BaseHTTPRequestHandler):
    """Routes for every case fetch_url must handle."""

    server: Server

    def do_GET(self) -> None:
        """Answer one GET from the routes below."""
        state = self.server.state
        path = self.path.split("?", 1)[0]
        state.hits[path] += 1
        # The client hangs up on purpose on the too-big and too-slow routes.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(state, path)

    def _route(self, state: State, path: str) -> None:
        """Send the response for path."""
        redirects = {"/loop": "/loop", "/hop": "/guide.md", "/to-file": "file:///etc/passwd"}
        if path in redirects:
            self._send(302, b"", headers={"Location": redirects[path]})
        elif path == "/slow":
            time.sleep(state.slow_seconds)
            self._send(200, b"late", "text/plain")
        elif path == "/trickle":
            self._send_header(200, "text/plain", {})
            self._trickle(state.slow_seconds)
        elif path == "/huge-declared":
            size = state.huge_bytes
            self._send_header(200, "application/octet-stream", {"Content-Length": str(size)})
            self._stream(size)
        elif path == "/huge-streamed":
            self._send_header(200, "application/octet-stream", {})
            self._stream(state.huge_bytes)
        elif path == "/etag":
            self._conditional(state, path, "If-None-Match", {"ETag": f'"v{state.etag_version}"'})
        elif path == "/lastmod":
            self._conditional(state, path, "If-Modified-Since", {"Last-Modified": LAST_MODIFIED})
        elif path in state.files:
            content_type, body = state.files[path]
            self._send(200, body, content_type)
        else:
            self._send(404, b"not found", "text/plain")

    def _conditional(self, state: State, path: str, header: str, validator: dict[str, str]) -> None:
        """304 when the request's validator matches, else the current version."""
        if self.headers.get(header) == next(iter(validator.values())):
            state.not_modified[path] += 1
            self._send(304, b"", headers=validator)
        else:
            self._send(200, f"version {state.etag_version}".encode(), "text/plain", validator)

    def _send(
        self, code: int, body: bytes, content_type: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """A complete response with a Content-Length."""
        extra = {"Content-Length": str(len(body)), **(headers or {})}
        self._send_header(code, content_type, extra)
        self.wfile.write(body)

    def _send_header(self, code: int, content_type: str, headers: dict[str, str]) -> None:
        """The status line and headers."""
        self.send_response(code)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _stream(self, size: int) -> None:
        """About size bytes of body, in chunks."""
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            self.wfile.write(chunk)

    def _trickle(self, seconds: float) -> None:
        """One byte every tenth of a second for seconds: never idle long enough to time out."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class Server(ThreadingHTTPServer):
    """A threading HTTP server carrying the test state."""

    daemon_threads = True

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state


@contextmanager
def serving(state: State) -> Iterator[str]:
    """Run a server for state in a thread; yields its base URL."""
    server = Server(state)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def add_tar_file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a regular file from bytes."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_tar_gz(path: Path, members: dict[str, str]) -> Path:
    """A .tar.gz at path holding each member's text."""
    with tarfile.open(path, "w:gz") as tf:
        for name, text in members.items():
            add_tar_file(tf, name, text.encode())
    return path


def add_tar_link(tf: tarfile.TarFile, name: str, target: str, kind: bytes) -> None:
    """Add a symlink or hardlink entry."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tf.addfile(info)
