"""A loopback HTTP server of files held in memory, recording every path asked for: the
base of the test package registries (Go module proxy, cargo sparse index, Python simple
index, npm registry), so tests can tell which phase of a build reached them."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar


@dataclass
class StaticFiles:
    """Files by URL path, the port they are served on, and the paths asked for."""

    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lookup(self, path: str) -> bytes | None:
        """The file a request path names (its query ignored), or None for a 404."""
        return self.files.get(path.split("?")[0])

    def content_type(self, path: str) -> str:
        del path
        return "application/octet-stream"


S = TypeVar("S", bound=StaticFiles)


@contextmanager
def serve_static(store: S) -> Iterator[S]:
    """Serve ``store`` on 127.0.0.1 (a free port, set on it) until the block ends."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            store.requests.append(self.path)
            body = store.lookup(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", store.content_type(self.path))
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    store.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store
    finally:
        server.shutdown()
        server.server_close()
