"""A loopback npm registry: a static file server of packuments and tarballs on 127.0.0.1.

It records every path asked for, so tests can tell which phase reached it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Registry:
    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def publish(self, name: str, version: str, files: dict[str, str]) -> dict[str, str]:
        """Serve a package; return its package-lock entry (version, resolved, integrity)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for rel, text in sorted(files.items()):
                data = text.encode()
                info = tarfile.TarInfo(f"package/{rel}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tf.addfile(info, io.BytesIO(data))
        tgz = buf.getvalue()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
        tarball = f"{self.url}{name}/-/{name}-{version}.tgz"
        self.files[f"/{name}/-/{name}-{version}.tgz"] = tgz
        manifest = json.loads(files["package.json"])
        packument = {"name": name, "dist-tags": {"latest": version}, "versions": {
            version: {**manifest, "dist": {"tarball": tarball, "integrity": integrity}}}}
        self.files[f"/{name}"] = json.dumps(packument).encode()
        entry = {"version": version, "resolved": tarball, "integrity": integrity}
        if "scripts" in manifest:
            entry["hasInstallScript"] = True  # type: ignore[assignment]
        return entry


def lockfile(project: str, deps: dict[str, dict[str, str]]) -> str:
    """A package-lock.json (v3) pinning ``deps`` by integrity."""
    packages: dict[str, object] = {"": {"name": project, "version": "1.0.0", "dependencies": {
        n: e["version"] for n, e in deps.items()}}}
    packages.update({f"node_modules/{n}": e for n, e in deps.items()})
    return json.dumps({"name": project, "version": "1.0.0", "lockfileVersion": 3,
                       "requires": True, "packages": packages}, indent=2) + "\n"


@contextmanager
def serve() -> Iterator[Registry]:
    registry = Registry()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            registry.requests.append(self.path)
            body = registry.files.get(self.path.split("?")[0].replace("%2f", "/"))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    registry.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
