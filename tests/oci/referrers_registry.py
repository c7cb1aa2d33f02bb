"""A registry with the OCI 1.1 referrers API, in memory on 127.0.0.1.

Debian's docker-registry (2.8) has no referrers API; this server follows the
distribution spec's documented behaviour for the calls a release makes
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md): monolithic blob
uploads (POST, then PUT with ``digest``), blobs and manifests by digest or tag (GET,
HEAD, PUT), ``OCI-Subject`` on a pushed manifest with a ``subject``, and ``GET
/v2/<name>/referrers/<digest>`` listing the manifests whose subject is that digest.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

INDEX = "application/vnd.oci.image.index.v1+json"
_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<what>blobs/uploads|blobs|manifests|referrers)"
                   r"(?:/(?P<ref>[^/]*))?$")


class ReferrersRegistry:
    """Start with :meth:`start`; ``host`` is ``127.0.0.1:PORT``; ``requests`` logs calls."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.uploads: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        #: When set, referrers are listed this many per page, with a ``Link`` to the next.
        self.page_size: int | None = None
        self.lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                registry.handle(self, "GET")

            def do_HEAD(self) -> None:
                registry.handle(self, "HEAD")

            def do_PUT(self) -> None:
                registry.handle(self, "PUT")

            def do_POST(self) -> None:
                registry.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(req.path)
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append((method, url.path))
            if url.path == "/v2/":
                return _send(req, 200, b"{}", "application/json")
            match = _PATH.match(url.path)
            if not match:
                return _send(req, 404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json")
            name, what, ref = match["name"], match["what"], match["ref"] or ""
            if what == "blobs/uploads":
                return self._upload(req, method, name, ref, parse_qs(url.query), body)
            if what == "blobs":
                data = self.blobs.get(ref)
                if data is None:
                    return _send(req, 404, b"", "application/json")
                return _send(req, 200, b"" if method == "HEAD" else data,
                             "application/octet-stream", {"Docker-Content-Digest": ref},
                             length=len(data))
            if what == "referrers":
                page = int(parse_qs(url.query).get("page", ["0"])[0])
                return self._referrers(req, url.path, ref, page)
            return self._manifest(req, method, name, ref, body)

    def _upload(self, req: BaseHTTPRequestHandler, method: str, name: str, ref: str,
                query: dict[str, list[str]], body: bytes) -> None:
        if method == "POST":
            session = uuid.uuid4().hex
            self.uploads.add(session)
            return _send(req, 202, b"", "text/plain",
                         {"Location": f"/v2/{name}/blobs/uploads/{session}"})
        digest = query.get("digest", [""])[0]
        if ref not in self.uploads or _digest(body) != digest:
            return _send(req, 400, b'{"errors":[{"code":"DIGEST_INVALID"}]}',
                         "application/json")
        self.uploads.discard(ref)
        self.blobs[digest] = body
        return _send(req, 201, b"", "text/plain", {"Docker-Content-Digest": digest})

    def _manifest(self, req: BaseHTTPRequestHandler, method: str, name: str, ref: str,
                  body: bytes) -> None:
        if method == "PUT":
            digest = _digest(body)
            kind = req.headers.get("Content-Type", "")
            self.manifests[digest] = (body, kind)
            if not ref.startswith("sha256:"):
                self.tags[(name, ref)] = digest
            headers = {"Docker-Content-Digest": digest}
            subject = json.loads(body).get("subject")
            if isinstance(subject, dict):
                headers["OCI-Subject"] = str(subject.get("digest"))
            return _send(req, 201, b"", "text/plain", headers)
        digest = ref if ref.startswith("sha256:") else self.tags.get((name, ref), "")
        if digest not in self.manifests:
            return _send(req, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}',
                         "application/json")
        data, kind = self.manifests[digest]
        return _send(req, 200, b"" if method == "HEAD" else data, kind,
                     {"Docker-Content-Digest": digest}, length=len(data))

    def _referrers(self, req: BaseHTTPRequestHandler, path: str, digest: str,
                   page: int) -> None:
        found = []
        for manifest_digest, (data, kind) in sorted(self.manifests.items()):
            doc = json.loads(data)
            if (doc.get("subject") or {}).get("digest") != digest:
                continue
            entry = {"mediaType": kind, "digest": manifest_digest, "size": len(data),
                     "artifactType": doc.get("artifactType")
                     or doc.get("config", {}).get("mediaType")}
            if doc.get("annotations"):
                entry["annotations"] = doc["annotations"]
            found.append(entry)
        headers = {}
        if self.page_size is not None:
            start = page * self.page_size
            if start + self.page_size < len(found):
                headers["Link"] = f'<{path}?page={page + 1}>; rel="next"'
            found = found[start:start + self.page_size]
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": found})
        return _send(req, 200, body.encode(), INDEX, headers)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, kind: str,
          headers: dict[str, str] | None = None, length: int | None = None) -> None:
    req.send_response(status)
    req.send_header("Content-Type", kind)
    req.send_header("Content-Length", str(len(body) if length is None else length))
    for key, value in (headers or {}).items():
        req.send_header(key, value)
    req.end_headers()
    if body:
        req.wfile.write(body)
