"""A loopback GitHub for tests: the REST endpoints the release tool uses, with GitHub's semantics.

Two threaded stdlib HTTP servers on 127.0.0.1 share one state: the API host and an
uploads host (uploads go to the release's ``upload_url``, never to the API host). Point
the tool at it with ``GITHUB_API_URL``; nothing inside githubkit is patched.

Behaviour and the GitHub documentation it follows:

- Releases: drafts are listed only to callers with push access and are invisible to
  get-by-tag (404); creating a release for a tag that already has a published one is a
  422 ``already_exists``.
  https://docs.github.com/en/rest/releases/releases
- Assets: uploaded to ``upload_url`` (uploads host) with ``Content-Length``; a duplicate
  name is a 422 ``already_exists``; assets carry ``digest: "sha256:<hex>"``; an upload
  cut off mid-body leaves an asset in state ``starter`` that must be deleted before the
  name can be used again (https://github.com/concourse/github-release-resource/pull/116).
  https://docs.github.com/en/rest/releases/assets
- Immutable releases: publishing in a repository with the setting on locks the release
  (``immutable: true``): no asset may be added or deleted, the tag may not be reused
  even after the release is deleted; title, notes, prerelease and latest stay editable.
  Reading the setting needs administration access.
  https://docs.github.com/en/code-security/concepts/supply-chain-security/immutable-releases
  https://docs.github.com/en/rest/repos/repos#check-if-immutable-releases-are-enabled-for-a-repository
- Permissions: each endpoint needs the permission GitHub lists for it; a token without
  it gets 403 with ``X-Accepted-GitHub-Permissions``; ``metadata: read`` is implicit.
  https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps
  https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#resource-not-accessible
- Classic tokens get ``X-OAuth-Scopes`` on every response; ``repo`` grants everything.
  https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps
- Installation tokens: POST /app/installations/{id}/access_tokens with an RS256 App JWT,
  optional ``repositories`` and ``permissions``; asking for a permission the
  installation lacks is a 422; the response lists the granted permissions (plus
  ``metadata: read``). DELETE /installation/token revokes the token.
  https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
  https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
  https://docs.github.com/en/rest/apps/installations#revoke-an-installation-access-token
- Attestations: POST /repos/{o}/{r}/attestations stores a Sigstore bundle, indexed by
  the subject digests of its in-toto statement. GET .../attestations/{sha256:|sha1:HEX}
  lists them as ``{"attestations": [{bundle, repository_id, bundle_url, initiator}]}``,
  filtered by ``predicate_type`` (``provenance``, ``sbom``, ``release`` or a URI),
  ``per_page`` at a time with a cursor (``after``) in a ``Link: <.../repositories/{id}/
  attestations/...?after=...>; rel="next"`` header. With ``bundle_url_mode`` the bundle
  is left out and ``bundle_url`` points at its Snappy-compressed JSON on the uploads
  host (blob storage), as GitHub's newer answers do. :meth:`GitHubServer.add_attestation`
  stores one made elsewhere (GitHub's own release attestation, ``initiator: github``).
  https://docs.github.com/en/rest/repos/attestations
- Rate limits: a secondary rate limit is a 403 or 429 with ``retry-after``.
  https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api

Fault injection (:meth:`GitHubServer.inject`): a status (502) once, a connection reset
partway through a request body, a secondary rate limit, an upload stored with one byte
flipped, and a crash point that runs a callback (the test kills the client) and drops
the connection without carrying the request out.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
_ids = itertools.count(1000)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Token:
    """A credential the server knows: kind is actions, fine-grained, installation or classic."""

    value: str
    kind: str
    permissions: dict[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()
    repositories: tuple[str, ...] | None = None
    revoked: bool = False


@dataclass
class Asset:
    id: int
    name: str
    label: str | None
    content_type: str
    size: int
    digest: str | None
    state: str
    path: Path
    created_at: str = field(default_factory=_now)


@dataclass
class Release:
    id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    immutable: bool = False
    created_at: str = field(default_factory=_now)
    published_at: str | None = None
    assets: list[Asset] = field(default_factory=list)


@dataclass
class Repo:
    owner: str
    name: str
    private: bool = False
    immutable_releases: bool = True
    id: int = field(default_factory=lambda: next(_ids))
    tags: dict[str, str] = field(default_factory=dict)
    tag_objects: dict[str, tuple[str, str]] = field(default_factory=dict)
    releases: dict[int, Release] = field(default_factory=dict)
    locked_tags: set[str] = field(default_factory=set)
    attestations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class App:
    app_id: int
    installation_id: int
    public_key: Any
    private_key_pem: str
    permissions: dict[str, str]
    repositories: tuple[str, ...]
    #: Permissions added to every minted token, as a misbehaving server would (for tests
    #: of the client's check of what was granted).
    broaden: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected failure; ``times`` requests matching method and path regex get it."""

    kind: str  # status | reset | rate-limit | corrupt | crash
    method: str
    path: str
    times: int = 1
    status: int = 502
    retry_after: int = 1
    #: For ``status``: carry the request out first, then answer with the error.
    apply_first: bool = False
    #: For ``reset``: bytes of the body read before the connection is reset.
    after_bytes: int | None = None
    on_crash: Callable[[], None] | None = None


@dataclass(frozen=True)
class Logged:
    host: str
    method: str
    path: str
    status: int
    token_kind: str


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.errors = status, message, headers, errors


class _Drop(Exception):
    """Reset the connection without answering."""


class GitHubServer:
    """The shared state and the two HTTP listeners; use as a context manager or fixture."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.apps: dict[int, App] = {}
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        #: Attestation listing: the largest page served, bundles by URL, a forced Link.
        self.attestations_per_page = 100
        self.bundle_url_mode = False
        #: Where bundle URLs point (default: this server's uploads host, as blob storage).
        self.bundle_url_base: str | None = None
        self.attestations_link: str | None = None
        self._api = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "api"))
        self._uploads = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "uploads"))
        for srv in (self._api, self._uploads):
            srv.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self._api.server_address[1]}"
        self.uploads_url = f"http://127.0.0.1:{self._uploads.server_address[1]}"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> GitHubServer:
        for srv in (self._api, self._uploads):
            t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        for srv in (self._api, self._uploads):
            srv.shutdown()
            srv.server_close()

    # -- set-up ------------------------------------------------------------------------
    def add_repo(self, full_name: str, *, private: bool = False,
                 immutable: bool = True) -> Repo:
        owner, name = full_name.split("/")
        with self.lock:
            repo = self.repos[full_name] = Repo(owner, name, private, immutable)
        return repo

    def set_tag(self, full_name: str, tag: str, commit: str, *, annotated: bool = False
                ) -> None:
        repo = self.repos[full_name]
        if annotated:
            obj = hashlib.sha1(f"tag {tag} {commit}".encode()).hexdigest()
            repo.tag_objects[obj] = (tag, commit)
            repo.tags[tag] = obj
        else:
            repo.tags[tag] = commit

    def add_token(self, kind: str, *, permissions: dict[str, str] | None = None,
                  scopes: tuple[str, ...] = (), repositories: tuple[str, ...] | None = None
                  ) -> str:
        prefix = {"actions": "ghs_", "installation": "ghs_", "fine-grained": "github_pat_",
                  "classic": "ghp_"}[kind]
        value = prefix + secrets.token_hex(20)
        with self.lock:
            self.tokens[value] = Token(value, kind, dict(permissions or {}), scopes,
                                       repositories)
        return value

    def add_app(self, permissions: dict[str, str], repositories: tuple[str, ...]) -> App:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
        app = App(next(_ids), next(_ids), key.public_key(), pem, dict(permissions),
                  repositories)
        with self.lock:
            self.apps[app.installation_id] = app
        return app

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def add_attestation(self, full_name: str, bundle: dict[str, Any], *,
                        initiator: str = "user") -> int:
        """Store a bundle as GitHub would, under every subject digest of its statement."""
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        digests = [f"{alg}:{value}" for subject in statement["subject"]
                   for alg, value in subject["digest"].items() if alg in ("sha1", "sha256")]
        with self.lock:
            att = {"id": next(_ids), "bundle": bundle, "digests": digests,
                   "initiator": initiator,
                   "predicate_type": statement.get("predicateType", "")}
            self.repos[full_name].attestations.append(att)
        return int(att["id"])

    def releases(self, full_name: str) -> list[Release]:
        return list(self.repos[full_name].releases.values())

    def asset_bytes(self, asset: Asset) -> bytes:
        return asset.path.read_bytes()

    # -- permission model ----------------------------------------------------------------
    def allowed(self, tok: Token | None, repo: Repo, perm: str, level: str) -> bool:
        need = LEVELS[level]
        if tok is None:
            return not repo.private and need <= 1 and perm in ("metadata", "contents",
                                                               "attestations")
        if tok.kind == "classic":
            if "repo" in tok.scopes:
                return True
            if "public_repo" in tok.scopes and not repo.private:
                return perm != "administration"
            return not repo.private and need <= 1 and perm != "administration"
        if tok.repositories is not None and repo.full_name not in tok.repositories:
            return False
        if perm == "metadata":
            return True
        return LEVELS.get(tok.permissions.get(perm, "none"), 0) >= need

    def require(self, tok: Token | None, repo: Repo, perm: str, level: str) -> None:
        if self.allowed(tok, repo, perm, level):
            return
        if repo.private and not self.allowed(tok, repo, "metadata", "read"):
            raise HttpError(404, "Not Found")
        who = "personal access token" if tok and tok.kind == "fine-grained" else "integration"
        raise HttpError(403, f"Resource not accessible by {who}",
                        {"X-Accepted-GitHub-Permissions": f"{perm}={level}"})

    # -- JSON shapes (githubkit's models validate these in the tests) ---------------------
    def user(self, login: str) -> dict[str, Any]:
        u = f"{self.api_url}/users/{login}"
        return {"login": login, "id": 1, "node_id": "U_1", "avatar_url": "", "gravatar_id": "",
                "url": u, "html_url": f"{self.api_url}/{login}", "followers_url": u,
                "following_url": u, "gists_url": u, "starred_url": u, "subscriptions_url": u,
                "organizations_url": u, "repos_url": u, "events_url": u,
                "received_events_url": u, "type": "Bot", "site_admin": False}

    def asset_json(self, repo: Repo, rel: Release, a: Asset) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.full_name}/releases/assets/{a.id}"
        return {"url": api, "id": a.id, "node_id": f"RA_{a.id}", "name": a.name,
                "label": a.label, "state": a.state, "content_type": a.content_type,
                "size": a.size, "digest": a.digest, "download_count": 0,
                "created_at": a.created_at, "updated_at": a.created_at,
                "uploader": self.user("github-actions[bot]"),
                "browser_download_url": f"{self.uploads_url}/{repo.full_name}/releases/"
                                        f"download/{quote(rel.tag_name)}/{quote(a.name)}"}

    def release_json(self, repo: Repo, rel: Release) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}/releases/{rel.id}"
        tag = rel.tag_name if not rel.draft else f"untagged-{rel.id}"
        return {
            "url": base, "assets_url": base + "/assets",
            "upload_url": f"{self.uploads_url}/repos/{repo.full_name}/releases/{rel.id}"
                          "/assets{?name,label}",
            "html_url": f"{self.api_url}/{repo.full_name}/releases/tag/{tag}",
            "tarball_url": None if rel.draft else f"{self.api_url}/tarball/{rel.tag_name}",
            "zipball_url": None if rel.draft else f"{self.api_url}/zipball/{rel.tag_name}",
            "id": rel.id, "node_id": f"RE_{rel.id}", "tag_name": rel.tag_name,
            "target_commitish": rel.target_commitish, "name": rel.name, "body": rel.body,
            "draft": rel.draft, "prerelease": rel.prerelease, "immutable": rel.immutable,
            "created_at": rel.created_at, "published_at": rel.published_at,
            "updated_at": rel.created_at, "author": self.user("github-actions[bot]"),
            "assets": [self.asset_json(repo, rel, a) for a in rel.assets],
        }

    def repo_json(self, repo: Repo) -> dict[str, Any]:
        return {"id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name,
                "full_name": repo.full_name, "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "owner": self.user(repo.owner), "default_branch": "main",
                "html_url": f"{self.api_url}/{repo.full_name}"}


# -- the HTTP side ----------------------------------------------------------------------
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
Route = tuple[str, str, re.Pattern[str], str]


def _routes(host: str) -> list[Route]:
    table = {
        "api": [
            ("GET", "", "get_repo"), ("GET", "/git/ref/tags/(?P<tag>.+)", "get_ref"),
            ("GET", "/git/tags/(?P<sha>[0-9a-f]+)", "get_tag"),
            ("GET", "/immutable-releases", "immutable_setting"),
            ("GET", "/releases", "list_releases"),
            ("POST", "/releases/generate-notes", "generate_notes"),
            ("GET", "/releases/tags/(?P<tag>.+)", "release_by_tag"),
            ("GET", r"/releases/assets/(?P<aid>\d+)", "get_asset"),
            ("DELETE", r"/releases/assets/(?P<aid>\d+)", "delete_asset"),
            ("GET", r"/releases/(?P<rid>\d+)/assets", "list_assets"),
            ("GET", r"/releases/(?P<rid>\d+)", "get_release"),
            ("POST", "/releases", "create_release"),
            ("PATCH", r"/releases/(?P<rid>\d+)", "update_release"),
            ("DELETE", r"/releases/(?P<rid>\d+)", "delete_release"),
            ("POST", "/attestations", "create_attestation"),
            ("GET", "/attestations/(?P<digest>sha(?:1|256):[0-9a-f]{40,64})",
             "list_attestations"),
        ],
        "uploads": [
            ("POST", r"/releases/(?P<rid>\d+)/assets", "upload_asset"),
        ],
    }[host]
    routes: list[Route] = [(m, host, re.compile("^" + _REPO + p + "$"), name)
                           for m, p, name in table]
    if host == "api":
        routes += [("POST", host, re.compile(r"^/app/installations/(?P<iid>\d+)/access_tokens$"),
                    "mint_token"),
                   ("DELETE", host, re.compile(r"^/installation/token$"), "revoke_token")]
    else:
        routes += [("GET", host, re.compile(r"^/_objects/(?P<aid>\d+)$"), "object"),
                   ("GET", host, re.compile(r"^/_bundles/(?P<att>\d+)$"), "bundle_blob"),
                   ("GET", host, re.compile(
                       r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/releases/download/(?P<tag>[^/]+)"
                       r"/(?P<name>[^/]+)$"), "browser_download")]
    return routes


def _handler(server: GitHubServer, host: str) -> type[BaseHTTPRequestHandler]:
    from tests.github_server_handlers import Handler  # the endpoint logic, in its own module

    return type(f"{host.title()}Handler", (Handler,),
                {"gh": server, "host": host, "routes": _routes(host)})


def reset_connection(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP reset, as with a dropped proxy."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def app_jwt(app: App, *, issued: float | None = None) -> str:
    """An RS256 JWT as an App signs it (for tests that call the mint endpoint directly)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    now = int(issued if issued is not None else time.time())

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iat": now - 60, "exp": now + 540, "iss": str(app.app_id)}).encode())
    key = serialization.load_pem_private_key(app.private_key_pem.encode(), None)
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return f"{head}.{body}.{b64(sig)}"


def parse_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}


def iter_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


@pytest.fixture
def github_server(tmp_path: Path) -> Iterator[GitHubServer]:
    """A running loopback GitHub; add repositories and tokens to it in the test."""
    with GitHubServer(tmp_path / "github-server") as srv:
        yield srv


def snappy_compress(data: bytes) -> bytes:
    """Snappy's raw block format (as GitHub stores bundles): literals and 2-byte-offset
    copies of earlier 4-byte matches, so a reader's copy paths are exercised."""
    out = bytearray()
    size = len(data)
    while True:  # the uncompressed length, little-endian base 128
        out.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    table: dict[bytes, int] = {}
    pos = literal = 0

    def flush(end: int) -> None:
        chunk = data[literal:end]
        while chunk:
            part, chunk = chunk[:60], chunk[60:]
            out.append((len(part) - 1) << 2)
            out.extend(part)

    while pos + 4 <= len(data):
        key = data[pos:pos + 4]
        prev = table.get(key)
        table[key] = pos
        if prev is None or pos - prev > 0xFFFF:
            pos += 1
            continue
        length = 4
        while pos + length < len(data) and length < 64 and \
                data[prev + length] == data[pos + length]:
            length += 1
        flush(pos)
        out.append(((length - 1) << 2) | 2)
        out.extend((pos - prev).to_bytes(2, "little"))
        pos += length
        literal = pos
    flush(len(data))
    return bytes(out)
