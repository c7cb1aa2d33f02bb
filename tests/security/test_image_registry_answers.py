"""A hostile registry's answers to ``release verify oci://``: a body larger than any
manifest, redirects and ``Link`` pages off loopback or to another host, a digest header
that is not a digest. Each is refused with a clear line, never read in full or followed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from tests.security.hostile_registry import (
    HostileRegistry,
    dumps,
    hostile,
    key_bundle,
    send,
    statement,
)

GIB = 1024 * 1024 * 1024


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


@pytest.fixture
def off_loopback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the client tries off loopback; none is sent (the test machine's rule)."""
    tried: list[str] = []
    real = httpx.HTTPTransport.handle_request

    def guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.host not in ("127.0.0.1", "localhost"):
            tried.append(str(request.url))
            raise httpx.ConnectError("off loopback: not sent by the test")
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", guarded)
    return tried


def _signed(reg: HostileRegistry, make_key) -> tuple[str, object, dict[str, object]]:
    key = make_key(passphrase=None)
    image = reg.image()
    entry = reg.refer(image, key_bundle(key.private, statement(image[0])))
    return image[0], key, entry


def _endless(sent: list[int], length: int | None):
    """A hook body: ``length`` (or no Content-Length) announced, bytes until the client
    hangs up; ``sent`` counts what went out."""
    def write(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        if length is not None:
            req.send_header("Content-Length", str(length))
        req.end_headers()
        chunk = b" " * (1 << 16)
        try:
            while sent[0] < GIB:
                req.wfile.write(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass
    return write


@pytest.mark.parametrize("announced", [GIB, None], ids=["content-length", "no-length"])
def test_a_huge_manifest_is_refused_without_reading_it(reg: HostileRegistry, make_key, cli,
                                                       announced: int | None) -> None:
    digest, key, _ = _signed(reg, make_key)
    sent = [0]
    write = _endless(sent, announced)

    def huge(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if method == "GET" and path.endswith(f"/manifests/{digest}"):
            write(req)
            return True
        return False

    reg.hooks.append(huge)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert "answered more than 4194304 bytes" in out.out
    assert sent[0] < 64 * 1024 * 1024, f"{sent[0]} bytes went out before the client hung up"


def test_a_blob_longer_than_its_descriptor_is_not_read_on(reg: HostileRegistry, make_key,
                                                          cli) -> None:
    digest, key, entry = _signed(reg, make_key)
    sent = [0]
    write = _endless(sent, None)
    layer = json.loads(reg.manifests[str(entry["digest"])][0])["layers"][0]["digest"]

    def huge(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith(f"/blobs/{layer}"):
            write(req)
            return True
        return False

    reg.hooks.append(huge)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert "answered more than" in out.out
    assert sent[0] < 64 * 1024 * 1024


@pytest.mark.parametrize("what", ["manifest", "blob"])
def test_a_redirect_to_plain_http_off_loopback_is_refused(reg: HostileRegistry, make_key,
                                                          cli, off_loopback: list[str],
                                                          what: str) -> None:
    digest, key, entry = _signed(reg, make_key)
    layer = json.loads(reg.manifests[str(entry["digest"])][0])["layers"][0]["digest"]
    target = f"/manifests/{digest}" if what == "manifest" else f"/blobs/{layer}"

    def redirect(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith(target):
            send(req, 307, headers={"Location": "http://198.51.100.7/v2/x"})
            return True
        return False

    reg.hooks.append(redirect)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert "to 198.51.100.7 over plain HTTP" in out.out
    assert off_loopback == []


@pytest.mark.parametrize("link", ["https://attacker.example/v2/example/x/referrers/next",
                                  "http://198.51.100.7/v2/example/x/referrers/next"])
def test_a_referrers_link_to_another_host_is_refused(reg: HostileRegistry, make_key, cli,
                                                     off_loopback: list[str],
                                                     link: str) -> None:
    digest, key, entry = _signed(reg, make_key)
    page = dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": [entry]})

    def linked(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if "/referrers/" in path:
            send(req, 200, page, headers={"Link": f'<{link}>; rel="next"'})
            return True
        return False

    reg.hooks.append(linked)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert "links the next page on another host" in out.out
    assert off_loopback == []


@pytest.mark.parametrize("header", ["v1", "sha256:../../blobs/x", "sha256:" + "A" * 64])
def test_a_tag_resolved_to_a_non_digest_is_refused(reg: HostileRegistry, make_key, cli,
                                                   header: str) -> None:
    _, key, _ = _signed(reg, make_key)

    def lie(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if method == "HEAD" and path.endswith("/manifests/v1"):
            send(req, 200, kind="application/vnd.oci.image.manifest.v1+json",
                 headers={"Docker-Content-Digest": header})
            return True
        return False

    reg.hooks.append(lie)
    out = cli("verify", f"oci://{reg.host}/example/x:v1", "--key", key.public)  # type: ignore[attr-defined]
    assert out.code != 0
    assert "not a sha256 digest" in out.err
    assert "Traceback" not in out.err
    assert not any(path.endswith(header) for _, path in reg.requests if header != "v1")


def test_a_tag_resolved_to_another_images_digest_fails_by_content(reg: HostileRegistry,
                                                                  make_key, cli) -> None:
    """The header names a digest the registry then serves other bytes for: refused."""
    digest, key, _ = _signed(reg, make_key)
    other = "sha256:" + "ab" * 32

    def lie(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith("/manifests/v1") or path.endswith(f"/manifests/{other}"):
            data = reg.manifests[digest][0]
            send(req, 200, b"" if method == "HEAD" else data,
                 kind="application/vnd.oci.image.manifest.v1+json",
                 headers={"Docker-Content-Digest": other}, length=len(data))
            return True
        return False

    reg.hooks.append(lie)
    out = cli("verify", f"oci://{reg.host}/example/x:v1", "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert "tampered or corrupt" in out.out
