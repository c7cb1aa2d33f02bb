"""Values a hostile registry or token server puts where an address or a token goes: a
realm, a redirect's ``Location``, a token. Each is refused as a failed stage that names
the registry, never an internal error; the value is shown only escaped and shortened, a
token never; a realm with a user name in it is not asked (it could pass for loopback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from release.errors import ReleaseError, StageFailed
from release.oci import registry
from release.oci.auth import Credentials
from release.oci.descriptor import Descriptor
from release.oci.registry import Registry
from tests.security.hostile_registry import HostileRegistry, digest_of, hostile, send
from tests.security.test_image_registry_answers import off_loopback  # noqa: F401

SECRET = "hunter2-registry-password"
#: What a token server would hand out, but with a byte that ends or breaks a header.
TOKEN = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln"


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


def _challenge(reg: HostileRegistry, realm: str, token: bytes = b"") -> None:
    """Every call without a token gets a Bearer challenge naming ``realm``; ``/token``
    answers with ``token`` as its JSON body."""

    def hook(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.startswith("/token"):
            send(req, 200, token, "application/json")
            return True
        if "Authorization" not in req.headers:
            send(req, 401, b"", "application/json",
                 headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'})
            return True
        return False

    reg.hooks.append(hook)


def _refused(reg: HostileRegistry) -> str:
    """What the client says when it asks ``reg`` for a manifest (and fails)."""
    with Registry(reg.host, "example/x", credentials=Credentials("bot", SECRET),
                  timeout=10) as client, pytest.raises(StageFailed) as caught:
        client.get_manifest("v1")
    text = caught.value.render()
    assert reg.host in text
    assert SECRET not in text
    assert all(line.isprintable() for line in text.splitlines()), text
    return text


@pytest.mark.parametrize("realm", [
    "https://[::1",  # an IPv6 host never closed
    "ftp://x\x1b]0;PWNED\x07\x1b[2Jy/",  # terminal escapes and a "["
    "https://xn--/",  # an A-label IDNA cannot decode
    "https://127.0.0.1:99999/token",  # no such port (httpx would wrap it to 34463)
], ids=["open-ipv6", "escapes", "bad-idna", "port"])
def test_a_realm_that_is_no_url_is_refused(reg: HostileRegistry, realm: str,
                                           off_loopback: list[str]) -> None:  # noqa: F811
    _challenge(reg, realm)
    text = _refused(reg)
    assert "names a token server (the realm of its challenge) that" in text
    assert "broken or hostile" in text
    assert "\x1b" not in text
    assert not any(path.startswith("/token") for _, path in reg.requests)
    assert off_loopback == []


@pytest.mark.parametrize("userinfo", ["127.0.0.1:1@", "bot:pw@", "localhost@"])
def test_a_realm_with_a_user_name_is_not_asked(reg: HostileRegistry, userinfo: str) -> None:
    """``http://127.0.0.1:1@host/`` once passed for loopback (the check read the whole
    netloc); httpx would also send the URL's user name instead of our credentials."""
    port = reg.host.rsplit(":", 1)[1]
    _challenge(reg, f"http://{userinfo}127.0.0.1:{port}/token", b'{"token": "%s"}'
               % TOKEN.encode())
    text = _refused(reg)
    assert "that holds a user name" in text
    assert not any(path.startswith("/token") for _, path in reg.requests)


@pytest.mark.parametrize("token", [
    TOKEN + "\r\nX-Injected: 1", TOKEN + "\x00", TOKEN + "\ud800", TOKEN + "\u20ac",
    TOKEN + " x", "=" + TOKEN, TOKEN * 200,
], ids=["crlf", "nul", "surrogate", "non-latin-1", "space", "leading-equals", "9-kib"])
def test_a_token_that_is_no_bearer_token_is_not_used_nor_shown(reg: HostileRegistry,
                                                               token: str) -> None:
    port = reg.host.rsplit(":", 1)[1]
    _challenge(reg, f"http://127.0.0.1:{port}/token", json.dumps({"token": token}).encode())
    text = _refused(reg)
    assert "sent a token that is not an RFC 6750 bearer token" in text
    assert TOKEN[:20] not in text
    assert not any("Authorization" in line for line in text.splitlines())


def test_a_bearer_token_of_every_allowed_character_is_used(reg: HostileRegistry) -> None:
    """The check lets through what RFC 6750 allows: the hostile registry then serves."""
    port = reg.host.rsplit(":", 1)[1]
    token = "AZaz09-._~+/" + TOKEN + "=="
    _challenge(reg, f"http://127.0.0.1:{port}/token", json.dumps({"token": token}).encode())
    digest, _ = reg.image()
    with Registry(reg.host, "example/x", credentials=Credentials("bot", SECRET),
                  timeout=10) as client:
        data, _ = client.get_manifest(digest)
    assert digest_of(data) == digest


@pytest.mark.parametrize(("location", "error"), [
    ("javascript:alert(1)", "InvalidURL"),  # no path httpx can send
    ("https://xn--/v2/example/x/manifests/v1", "IDNAError"),  # IDNA cannot decode it
], ids=["javascript", "bad-idna"])
def test_a_redirect_to_an_unusable_address_is_refused(reg: HostileRegistry, location: str,
                                                      error: str,
                                                      off_loopback: list[str]  # noqa: F811
                                                      ) -> None:
    def redirect(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith("/manifests/v1"):
            send(req, 302, headers={"Location": location})
            return True
        return False

    reg.hooks.append(redirect)
    text = _refused(reg)
    assert location not in text
    assert (f"registry {reg.host} is broken or hostile: GET manifests/v1 led to an address "
            "(a redirect, an upload location or its token server's) or a token that cannot "
            f"go into a request ({error}); not followed") in text
    assert off_loopback == []


def test_a_registry_hanging_up_inside_a_blob_fails_the_stage(reg: HostileRegistry,
                                                            tmp_path) -> None:
    """A blob's answer cut short: a failed stage (was httpx's exception, an internal
    error, since the blob is streamed outside the calls that translated it)."""
    data = b"layer bytes " * 1000
    digest = reg.add_blob(data)

    def cut(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith(f"/blobs/{digest}"):
            send(req, 200, data[:100], "application/octet-stream", length=len(data))
            req.close_connection = True
            return True
        return False

    reg.hooks.append(cut)
    desc = Descriptor(media_type="application/vnd.oci.image.layer.v1.tar", digest=digest,
                      size=len(data))
    with Registry(reg.host, "example/x", timeout=10) as client, \
            pytest.raises(StageFailed) as caught:
        client.fetch_blob(desc, tmp_path / "layer.part", "layer 1")
    assert f"cannot reach registry {reg.host}" in caught.value.render()


def _trickle(req: BaseHTTPRequestHandler, body: bytes, kind: str, sent: list[int]) -> None:
    """Answer 200 with ``body``, a byte every 50 ms (each well within any read timeout),
    until the client hangs up; ``sent`` counts the bytes that went out."""
    req.send_response(200)
    req.send_header("Content-Type", kind)
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    try:
        for byte in body:
            req.wfile.write(bytes([byte]))
            req.wfile.flush()
            sent[0] += 1
            time.sleep(0.05)
    except OSError:
        pass  # the client hung up


@pytest.mark.parametrize("what", ["manifest", "token"])
def test_an_answer_trickled_a_byte_at_a_time_is_cut_off(reg: HostileRegistry,
                                                        what: str) -> None:
    """Each byte comes well within the read timeout, so only a deadline for the whole
    answer (by default the read timeout, here 1 s) stops a registry holding the job."""
    port = reg.host.rsplit(":", 1)[1]
    body = json.dumps({"token": TOKEN, "padding": " " * 200}).encode()
    sent = [0]

    def trickle(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if what == "token" and not path.startswith("/token") \
                and "Authorization" not in req.headers:
            send(req, 401, b"", "application/json", headers={
                "WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/token"'})
            return True
        if not path.startswith("/token" if what == "token" else "/v2/example/x/manifests"):
            return False
        _trickle(req, body, "application/json", sent)
        return True

    reg.hooks.append(trickle)
    with Registry(reg.host, "example/x", timeout=1.0) as client, \
            pytest.raises(StageFailed) as caught:
        client.get_manifest("v1")
    assert (f"cannot reach registry {reg.host}: ReadTimeout: the whole answer took longer "
            "than 1 s") in caught.value.render()
    assert sent[0] < len(body)


def test_an_upload_location_that_is_no_url_is_refused(reg: HostileRegistry) -> None:
    def start(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if method == "POST" and path.endswith("/blobs/uploads/"):
            send(req, 202, b"", "text/plain", headers={"Location": "http://[::1/upload"})
            return True
        return False

    reg.hooks.append(start)
    data = b"config"
    desc = Descriptor(media_type="application/vnd.oci.image.config.v1+json",
                      digest=digest_of(data), size=len(data))
    with Registry(reg.host, "example/x", push=True, timeout=10) as client, \
            pytest.raises(StageFailed) as caught:
        client.upload_bytes(data, desc)
    assert (f"registry {reg.host} is broken or hostile: the address it gave for an upload "
            "cannot go into a request (ValueError)") in caught.value.render()
    assert not any(method == "PUT" for method, _ in reg.requests)


@pytest.mark.parametrize(("link", "said"), [
    ("http://[::1/v2/example/x/referrers/next", "cannot go into a request (ValueError)"),
    ("https://x\x1bc\x07.example/v2/", "links the next page on another host "
     "(x\\x1bc\\x07.example)"),  # ESC c resets a terminal
], ids=["open-ipv6", "escapes"])
def test_a_referrers_link_that_is_no_url_is_refused(reg: HostileRegistry, link: str,
                                                    said: str) -> None:
    page = json.dumps({"schemaVersion": 2, "manifests": [],
                       "mediaType": "application/vnd.oci.image.index.v1+json"}).encode()
    asked: list[str] = []

    def linked(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if "/referrers/" in path:
            asked.append(path)
            send(req, 200, page, headers={"Link": f'<{link}>; rel="next"'})
            return True
        return False

    reg.hooks.append(linked)
    digest, _ = reg.image()
    with Registry(reg.host, "example/x", timeout=10) as client, \
            pytest.raises(ReleaseError) as caught:
        client.referrers(digest)
    text = caught.value.render()
    assert caught.value.exit_code == 1
    assert said in text
    assert "\x1b" not in text
    assert len(asked) == 1


def test_a_redirect_with_a_user_name_is_not_followed(reg: HostileRegistry) -> None:
    """httpx would send a Location's user name and password as Basic credentials to the
    host it names: the registry could make us authenticate anywhere with words of its own."""
    asked: list[str] = []

    def redirect(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        asked.append(req.headers.get("Authorization", ""))
        if path.endswith("/manifests/v1"):
            send(req, 302, headers={"Location": f"http://user:pw@{reg.host}/v2/x/manifests/w"})
            return True
        return False

    reg.hooks.append(redirect)
    text = _refused(reg)
    assert "redirected to an address with a user name; not followed" in text
    assert "pw" not in text and asked == [""]


def test_a_blob_trickled_below_the_stalled_rate_is_cut_off(
        reg: HostileRegistry, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A blob may take the read timeout plus its size at MIN_BLOB_RATE; a registry
    sending a byte now and then, each within the read timeout, is cut off after that."""
    data = b"layer bytes " * 100
    digest = reg.add_blob(data)
    sent = [0]

    def trickle(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if not path.endswith(f"/blobs/{digest}"):
            return False
        _trickle(req, data, "application/octet-stream", sent)
        return True

    reg.hooks.append(trickle)
    monkeypatch.setattr(registry, "MIN_BLOB_RATE", 1200)  # the 1,200 bytes in 1 s
    desc = Descriptor(media_type="application/vnd.oci.image.layer.v1.tar", digest=digest,
                      size=len(data))
    with Registry(reg.host, "example/x", timeout=1) as client, \
            pytest.raises(StageFailed) as caught:
        client.fetch_blob(desc, tmp_path / "layer.part", "layer 1")
    assert f"blob {digest} took longer than 2 s" in caught.value.render()
    assert sent[0] < len(data) // 2
    assert not (tmp_path / "layer.part").exists()
