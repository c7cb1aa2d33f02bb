"""Registry authentication: the Docker token flow and HTTP Basic.

A registry answers an unauthenticated call with ``401`` and a ``WWW-Authenticate``
challenge. ``Bearer realm=...,service=...,scope=...`` sends us to a token server
(https://distribution.github.io/distribution/spec/auth/token/), which we ask, with
the credentials as HTTP Basic (or anonymously), for a token scoped to the repository;
``Basic`` means the credentials go to the registry itself. Credentials travel only
over TLS, or to a loopback host, and never appear in an error message.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import httpx

from release.errors import StageFailed
from release.oci.bounded import read_at_most
from release.oci.reference import is_loopback
from release.terminal import printable
from release.untrusted_json import loads_json

#: A token server's answer is a small JSON object; more than this is not read.
MAX_TOKEN_ANSWER = 1024 * 1024
#: Longer tokens are refused; 8 KiB is also the longest header line that common front
#: ends accept (nginx's ``large_client_header_buffers``).
MAX_TOKEN = 8 * 1024
#: RFC 6750's ``b64token`` (https://www.rfc-editor.org/rfc/rfc6750#section-2.1), the only
#: form a Bearer token may take: nothing that could end the header (CR, LF, NUL) or that
#: httpx cannot encode.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Credentials:
    """A user name and a secret (a token or password); ``repr`` never shows the secret."""

    username: str
    secret: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret=***)"

    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ``("bearer", {"realm": "x", "service": "y"})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
    return scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()}


class RegistryAuth:
    """Answers a registry's challenge, then authorizes every request to that registry.

    The registry client drives it (it is not an httpx auth flow: httpx reads the whole
    body of each answer a flow moves past, and a registry's 401 or its token server's
    answer is the network's to size)."""

    def __init__(self, host: str, scope: str, credentials: Credentials | None) -> None:
        self.host = host
        self.scope = scope
        self.credentials = credentials
        self.header: str | None = None

    def authorize(self, request: httpx.Request) -> None:
        """The token or Basic credential, to the registry's own host only: an upload
        Location or a redirect to another host gets nothing."""
        if self.header and request.url.netloc.decode("ascii") == self.host:
            request.headers["Authorization"] = self.header

    def answer(self, response: httpx.Response, client: httpx.Client) -> bool:
        """Answer the challenge of a 401 from the registry (asking its token server
        through ``client``); True when the request is worth sending again."""
        if response.url.netloc.decode("ascii") != self.host:
            return False
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.credentials is not None:
            self.header = self.credentials.basic()
        elif scheme == "bearer":
            token_response = client.send(self._token_request(params), stream=True)
            try:
                self.header = "Bearer " + self._token(token_response)
            finally:
                token_response.close()
        else:
            return False  # the caller reports the 401 with a hint about credentials
        return True

    def _token_request(self, params: dict[str, str]) -> httpx.Request:
        realm = params.get("realm", "")
        try:
            # parsed as httpx will send it: another parser may see another host
            url = httpx.URL(realm)
            host = url.host  # decoding an IDNA host may fail
        except (ValueError, httpx.InvalidURL):
            raise self._bad_realm(realm, "is not a URL") from None
        if url.userinfo:
            # httpx would send the user name and password in it instead of ours
            raise self._bad_realm(realm, "holds a user name")
        if not host or (url.port is not None and not 0 < url.port < 65536):
            raise self._bad_realm(realm, "names no valid host and port")
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback(host)):
            raise StageFailed(f"registry {self.host} sends us to a token server over "
                              f"{printable(url.scheme[:20]) or 'an unknown scheme'} "
                              f"({printable(host[:100])})",
                              "credentials travel over TLS only (plain HTTP on loopback)")
        query = {"scope": self.scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        try:
            return httpx.Request("GET", url, params=query, headers=headers)
        except (ValueError, httpx.InvalidURL):
            raise self._bad_realm(realm, "is not a URL") from None

    def _bad_realm(self, realm: str, problem: str) -> StageFailed:
        shown = repr(realm[:100]) + ("..." if len(realm) > 100 else "")  # repr escapes
        return StageFailed(f"registry {self.host} names a token server (the realm of its "
                           f"challenge) that {problem}: {shown}; not asked",
                           "the registry is broken or hostile: a realm is an https:// URL "
                           "(http:// on loopback) with a host and no user name")

    def _token(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            who = "with the configured credentials" if self.credentials else "anonymously"
            raise StageFailed(
                f"the token server of {self.host} refused access to {self.scope} {who} "
                f"(HTTP {response.status_code})",
                "check the credential and that it may push to this repository (for ghcr.io "
                "the stage needs `packages: write`)" if self.credentials else
                "the image may be private: pull access needs a credential")
        body = read_at_most(response, MAX_TOKEN_ANSWER)
        if body is None:
            raise StageFailed(f"the token server of {self.host} answered more than "
                              f"{MAX_TOKEN_ANSWER} bytes: not read on")
        try:
            data = loads_json(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise StageFailed(f"the token server of {self.host} sent no token")
        if len(token) > MAX_TOKEN or not _B64TOKEN.fullmatch(token):
            # the token is never shown: it may be a real one with a byte appended
            raise StageFailed(f"the token server of {self.host} sent a token that is not an "
                              "RFC 6750 bearer token (letters, digits, -._~+/ then =, at most "
                              f"{MAX_TOKEN} characters); not used",
                              "the token server is broken or hostile")
        return token
