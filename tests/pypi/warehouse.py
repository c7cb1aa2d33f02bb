"""A loopback index that follows warehouse's documented behaviour, for what no local
index implements: the trusted-publishing exchange, the ``attestations`` upload field and
the integrity API.

Documented behaviour followed (https://docs.pypi.org/): ``GET /_/oidc/audience``;
``POST /_/oidc/mint-token`` with ``{"token": JWT}`` answering ``{"success", "token",
"expires"}`` or 422 ``{"message", "errors": [{"code", "description"}]}`` (codes
``invalid-payload``, ``invalid-token``, ``invalid-publisher``); ``POST /legacy/``
multipart uploads authenticated as ``__token__``, where attestations are accepted only
from a trusted publisher and each must verify (with pypi-attestations, against the
local Sigstore stack's trusted root) for that very file and publisher; an identical
file again is 200, a different file under a used name 400 "File already exists";
``GET /simple/<name>/`` as PEP 691 JSON or PEP 503 HTML; ``GET /integrity/<project>/
<version>/<filename>/provenance``. Faults and tampering are switched on by tests.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass
class Publisher:
    repository: str = "owner/repo"
    workflow: str = "release.yml"
    environment: str | None = "pypi"


@dataclass
class WarehouseState:
    trusted_root: Path | None = None
    publisher: Publisher | None = field(default_factory=Publisher)
    audience: str = "pypi"
    #: API tokens accepted as passwords of __token__ (beside minted ones).
    api_tokens: set[str] = field(default_factory=set)
    minted: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: consumed one per upload request: "500", "503", "reset" (close halfway through),
    #: "echo" (a hostile index: the credential in its error), "corrupt" (store a changed byte)
    faults: list[str] = field(default_factory=list)
    reject_versions: set[str] = field(default_factory=set)
    #: path prefix -> Location of a redirect answered instead
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    #: a hostile index: file name -> another project whose page also lists it (and whose
    #: integrity API serves its provenance)
    listed_on: dict[str, str] = field(default_factory=dict)
    #: a hostile index: project -> the raw PEP 691 page answered for it
    simple_body: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def uploads(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "POST" and p.startswith("/legacy")]


def _claims(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(data, dict)
    return data


def _dist_name(filename: str) -> tuple[str, str]:
    if filename.endswith(".whl"):
        name, version, *_ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: WarehouseState

    def log_message(self, *args: object) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------
    def _send(self, status: int, body: bytes | str = b"", ctype: str = "text/plain",
              reason: str | None = None, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status, reason)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data), "application/json")

    def _record(self) -> bool:
        st = self.state
        with st.lock:
            st.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
        for prefix, target in st.redirects.items():
            if self.path.startswith(prefix):
                self._send(307, b"", headers={"Location": target})
                return True
        return False

    # -- GET ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self._record():
            return
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if path == "/_/oidc/audience":
            self._json(200, {"audience": self.state.audience})
        elif len(parts) == 2 and parts[0] == "simple":
            self._simple(parts[1])
        elif len(parts) == 2 and parts[0] == "files" and parts[1] in self.state.files:
            self._send(200, self.state.files[parts[1]], "application/octet-stream")
        elif len(parts) == 5 and parts[0] == "integrity" and parts[4] == "provenance":
            prov = self.state.provenance.get(parts[3])
            foreign = self.state.listed_on.get(parts[3]) == canonicalize_name(parts[1])
            if prov is None or (_dist_name(parts[3]) != (canonicalize_name(parts[1]), parts[2])
                                and not foreign):
                self._json(404, {"message": "No provenance available"})
            else:
                self._send(200, json.dumps(prov), "application/vnd.pypi.integrity.v1+json")
        else:
            self._send(404, "Not Found")

    def _simple(self, project: str) -> None:
        if project in self.state.simple_body:
            self._send(200, self.state.simple_body[project],
                       "application/vnd.pypi.simple.v1+json")
            return
        files = sorted((f, data) for f, data in self.state.files.items()
                       if canonicalize_name(project) in (
                           _dist_name(f)[0], self.state.listed_on.get(f)))
        if not files:
            self._send(404, "Not Found")
            return
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            entries = [{"filename": f, "url": f"/files/{f}",
                        "hashes": {"sha256": hashlib.sha256(d).hexdigest()},
                        "provenance": None} for f, d in files]
            self._send(200, json.dumps({"meta": {"api-version": "1.1"}, "name": project,
                                        "files": entries}),
                       "application/vnd.pypi.simple.v1+json")
            return
        links = "".join(f'<a href="/files/{f}#sha256={hashlib.sha256(d).hexdigest()}">{f}'
                        "</a><br/>\n" for f, d in files)
        self._send(200, f"<!DOCTYPE html><html><body>{links}</body></html>", "text/html")

    # -- POST ---------------------------------------------------------------------------
    def do_POST(self) -> None:
        if self._record():
            return
        length = int(self.headers.get("Content-Length", "0"))
        if self.path == "/_/oidc/mint-token":
            self._mint(self.rfile.read(length))
        elif self.path.startswith("/legacy"):
            self._upload(length)
        else:
            self._send(404, "Not Found")

    def _mint(self, body: bytes) -> None:
        def refuse(code: str, description: str) -> None:
            self._json(422, {"message": "Token request failed",
                             "errors": [{"code": code, "description": description}]})

        try:
            jwt = json.loads(body)["token"]
            assert isinstance(jwt, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            refuse("invalid-payload", "malformed payload")
            return
        try:
            claims = _claims(jwt)
        except (ValueError, IndexError, AssertionError):
            refuse("invalid-token", "malformed token")
            return
        if claims.get("aud") != self.state.audience or claims.get("iss") != GITHUB_ISSUER \
                or claims.get("exp", 0) <= time.time():
            refuse("invalid-token", "token is not valid for this audience or has expired")
            return
        pub = self.state.publisher
        ref = str(claims.get("job_workflow_ref", ""))
        if pub is None or claims.get("repository") != pub.repository or not ref.startswith(
                f"{pub.repository}/.github/workflows/{pub.workflow}@") or (
                pub.environment and claims.get("environment") != pub.environment):
            refuse("invalid-publisher", "valid token, but no corresponding publisher "
                   "(Publisher with matching claims was not found)")
            return
        token = "pypi-AgEIcHlwaS5vcmc" + secrets.token_urlsafe(48)
        self.state.minted.add(token)
        self._json(200, {"success": True, "token": token, "expires": int(time.time()) + 900})

    def _upload(self, length: int) -> None:
        st = self.state
        with st.lock:
            fault = st.faults.pop(0) if st.faults else None
        if fault == "reset":
            self.rfile.read(length // 2)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(length)
        if fault in ("500", "503"):
            self._send(int(fault), "try again", reason="Service Unavailable")
            return
        auth = self.headers.get("Authorization", "")
        user, _, token = base64.b64decode(auth.removeprefix("Basic ") or "Og==").decode(
            ).partition(":")
        trusted = token in st.minted
        if fault == "echo":
            self._send(400, f"you sent {auth} = {token}",
                       reason=f"Bad token {token} sent as {auth}")
            return
        if user != "__token__" or not (trusted or token in st.api_tokens):
            self._send(403, "", reason="Invalid or non-existent authentication information.")
            return
        form = self._form(body)
        name, version = form.get("name", ""), form.get("version", "")
        filename, content = form.get("content.filename", ""), form.get("content", b"")
        if version in st.reject_versions:
            self._send(400, "", reason=f"'{version}' is an invalid value for Version. Error: "
                       "Start and end with a letter or numeral containing only ASCII "
                       "numeric and '.', '_' and '-'.")
            return
        assert isinstance(content, bytes) and isinstance(filename, str)
        digest = hashlib.sha256(content).hexdigest()
        if form.get(":action") != "file_upload" or form.get("protocol_version") != "1" \
                or _dist_name(filename) != (canonicalize_name(str(name)), str(version)) \
                or form.get("sha256_digest") != digest:
            self._send(400, "", reason="Invalid upload: fields do not match the file")
            return
        if filename in st.files:
            if st.files[filename] == content:
                self._send(200, "OK")
            else:
                self._send(400, "", reason=f"File already exists ({filename!r}, with sha256 "
                           f"hash {hashlib.sha256(st.files[filename]).hexdigest()!r}). See "
                           "https://pypi.org/help/#file-name-reuse for more information.")
            return
        attestations = form.get("attestations")
        if attestations:
            if not trusted:
                self._send(400, "", reason="Invalid attestations supplied during upload: "
                           "Attestations are only supported when using Trusted Publishing")
                return
            problem = self._check_attestations(str(attestations), filename, digest)
            if problem:
                self._send(400, "", reason=f"Invalid attestations supplied during upload: "
                           f"{problem}")
                return
        if fault == "corrupt":
            content = content[:-1] + bytes([content[-1] ^ 1])
        st.files[filename] = content
        self._send(200, "OK")

    def _form(self, body: bytes) -> dict[str, str | bytes]:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        form: dict[str, str | bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            if part.get_filename():
                form[name], form[f"{name}.filename"] = payload, part.get_filename() or ""
            else:
                form[name] = payload.decode("utf-8")
        return form

    def _check_attestations(self, raw: str, filename: str, digest: str) -> str | None:
        from pypi_attestations import Attestation, Distribution, GitHubPublisher
        from sigstore.models import TrustedRoot
        from sigstore.verify import Verifier

        st, pub = self.state, self.state.publisher
        assert pub is not None and st.trusted_root is not None
        publisher = GitHubPublisher(repository=pub.repository, workflow=pub.workflow,
                                    environment=pub.environment)
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(st.trusted_root)))
        kept, kinds = [], set()
        try:
            for item in json.loads(raw):
                att = Attestation.model_validate(item)
                _payload_type, payload = verifier.verify_dsse(att.to_bundle(),
                                                             publisher._as_policy())
                statement = json.loads(payload)
                [subject] = statement["subject"]
                dist = Distribution(name=filename, digest=digest)
                if subject["name"] != dist.name or subject["digest"]["sha256"] != digest:
                    return "attestation subject does not match the file"
                if statement["predicateType"] in kinds:
                    return "multiple attestations of one predicate type"
                kinds.add(statement["predicateType"])
                kept.append(item)
        except Exception as exc:  # any failure is the client's fault here
            return " ".join(str(exc).split())[:200] or type(exc).__name__
        st.provenance[filename] = {"version": 1, "attestation_bundles": [{
            "publisher": {"kind": "GitHub", "repository": pub.repository,
                          "workflow": pub.workflow, "environment": pub.environment},
            "attestations": kept}]}
        return None


class Warehouse:
    """The server, its URL and its state."""

    def __init__(self, state: WarehouseState) -> None:
        handler = type("BoundHandler", (Handler,), {"state": state})
        self.state = state
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def upload_url(self) -> str:
        return f"{self.url}/legacy/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
