"""A loopback npm registry: a static file server of packuments and tarballs on 127.0.0.1.

It records every path asked for, so tests can tell which phase reached it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager

from tests.static_server import StaticFiles, serve_static


class Registry(StaticFiles):
    def lookup(self, path: str) -> bytes | None:
        # scoped names arrive with their slash encoded
        return super().lookup(path.replace("%2f", "/"))

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
    with serve_static(Registry()) as registry:
        yield registry
