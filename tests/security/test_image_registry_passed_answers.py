"""The answers a registry client passes over on its way: a 401 before the token, the
token server's answer, each redirect. httpx's own following reads their bodies whole,
as much as the network sends; ours never reads a body it passes, reads the token bounded
and follows a bounded number of redirects. A hostile registry sends endless bodies."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from release.oci.auth import MAX_TOKEN_ANSWER
from release.oci.transport import MAX_REDIRECTS
from tests.security.hostile_registry import HostileRegistry, hostile, send
from tests.security.test_image_registry_answers import GIB, _signed

#: Sent before the client hung up, at most (the socket buffers hold a few MiB).
BOUND = 64 * 1024 * 1024


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


def _endless(req: BaseHTTPRequestHandler, status: int, sent: list[int],
             headers: dict[str, str]) -> None:
    """An answer whose body never ends (no Content-Length), until the client hangs up."""
    req.send_response(status)
    for name, value in headers.items():
        req.send_header(name, value)
    req.send_header("Content-Type", "application/json")
    req.end_headers()
    try:
        while sent[0] < GIB:
            req.wfile.write(b" " * (1 << 16))
            sent[0] += 1 << 16
    except OSError:
        pass


def _challenge(reg: HostileRegistry) -> dict[str, str]:
    realm = f"http://{reg.host}/token"  # type: ignore[attr-defined]
    return {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}


def test_an_endless_401_is_not_read(reg: HostileRegistry, make_key, cli) -> None:
    digest, key, _ = _signed(reg, make_key)
    sent, authorized = [0], []

    def challenge(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.startswith("/token"):
            send(req, 200, b'{"token": "t0k3n"}', kind="application/json")
        elif "Authorization" not in req.headers:
            _endless(req, 401, sent, _challenge(reg))
        else:
            authorized.append(req.headers["Authorization"])
            return False
        return True

    reg.hooks.append(challenge)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 0, out.out + out.err  # answered with the token, and verified
    assert sent[0] < BOUND, f"{sent[0]} bytes went out before the client hung up"
    assert authorized and set(authorized) == {"Bearer t0k3n"}


def test_an_endless_token_answer_is_refused(reg: HostileRegistry, make_key, cli) -> None:
    digest, key, _ = _signed(reg, make_key)
    sent = [0]

    def challenge(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.startswith("/token"):
            _endless(req, 200, sent, {})
        else:
            send(req, 401, b"{}", kind="application/json", headers=_challenge(reg))
        return True

    reg.hooks.append(challenge)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert f"answered more than {MAX_TOKEN_ANSWER} bytes" in out.out + out.err
    assert sent[0] < BOUND
    assert "Traceback" not in out.err


def test_an_endless_redirect_is_not_read(reg: HostileRegistry, make_key, cli) -> None:
    digest, key, _ = _signed(reg, make_key)
    sent = [0]

    def redirect(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith(f"/manifests/{digest}") and "moved" not in path:
            _endless(req, 307, sent, {"Location": path.replace("/manifests/", "/moved/")})
            return True
        if "/moved/" in path:
            req.path = path.replace("/moved/", "/manifests/")  # served as usual
        return False

    reg.hooks.append(redirect)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 0, out.out + out.err
    assert sent[0] < BOUND


def test_a_redirect_loop_ends(reg: HostileRegistry, make_key, cli) -> None:
    digest, key, _ = _signed(reg, make_key)
    hops = [0]

    def loop(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if path.endswith(f"/manifests/{digest}"):
            hops[0] += 1
            send(req, 307, headers={"Location": path})
            return True
        return False

    reg.hooks.append(loop)
    out = cli("verify", reg.url(digest), "--key", key.public)  # type: ignore[attr-defined]
    assert out.code == 1, out.out + out.err
    assert f"redirected more than {MAX_REDIRECTS} times" in out.out + out.err
    assert hops[0] == MAX_REDIRECTS + 1
