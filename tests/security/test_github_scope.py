"""Attacks on ScopedGitHub's scope: every way a URL can reach the client (``url=``, an
``upload_url`` the API returned, a pagination ``Link``, a redirect, a tag that spells a
path) must keep the token on the configured host and the scoped repository.

Each "elsewhere" is a real loopback listener that records every request and whether it
carried an ``Authorization`` header; a refused call must not reach it at all.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from release.github.assets import AssetFile
from release.github.client import ScopedGitHub
from release.github.failures import RetryPolicy, ScopeRefused
from release.github.pagination import paged
from release.github.publish import Publisher, ReleaseSpec
from release.permissions import Level, PermissionSet
from tests.github_server import GitHubServer, github_server  # noqa: F401  (fixture)

REPO = "octo/demo"
OTHER = "octo/other"
TAG = "v1.0.0"
COMMIT = "c" * 40
SECRET = "ghs_" + "S3cr3t" * 6
WRITE = PermissionSet({"contents": Level.WRITE})
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Listener:
    """A loopback HTTP server that records requests; ``answer`` decides the response."""

    host: str = "127.0.0.1"
    answer: Callable[[str, str], Answer] = lambda method, path: (200, {}, b"[]")
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                listener.seen.append(Seen(self.command, self.path,
                                          self.headers.get("Authorization")))
                status, headers, body = listener.answer(self.command, self.path)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{self.host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def tokens(self) -> list[str]:
        return [s.authorization for s in self.seen if s.authorization]


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(**kwargs: object) -> Listener:
        made.append(Listener(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def client(base_url: str, token: str = SECRET, **kwargs: object) -> ScopedGitHub:
    return ScopedGitHub(REPO, WRITE, token=token, stage="publish", base_url=base_url,
                        retry=RetryPolicy(attempts=2, base=0.01), **kwargs)  # type: ignore[arg-type]


def loopback_github(server: GitHubServer) -> str:
    """The loopback GitHub with our repository, another one, and a token for ours."""
    server.add_repo(REPO)
    server.add_repo(OTHER)
    server.set_tag(REPO, TAG, COMMIT)
    server.set_tag(OTHER, TAG, COMMIT)
    return server.add_token("actions", permissions={"contents": "write"})


# -- url= ----------------------------------------------------------------------------------
def test_explicit_url_to_another_host_is_refused(github_server, listen) -> None:  # noqa: F811
    token = loopback_github(github_server)
    elsewhere = listen()
    with client(github_server.api_url, token) as gh, pytest.raises(ScopeRefused) as err:
        gh.call("repos/get-release", {"release_id": 1},
                url=f"{elsewhere.url}/repos/{REPO}/releases/1")
    port = elsewhere.url.rsplit(":", 1)[1]
    assert f"to http://127.0.0.1:{port}/repos/{REPO}/releases/1: another host than " \
           f"{github_server.api_url}" in err.value.message
    assert "nothing was sent" in (err.value.hint or "")
    assert token not in err.value.render()
    assert elsewhere.seen == [] and github_server.requests == []


@pytest.mark.parametrize("path", [
    f"/repos/{OTHER}/releases",
    f"/repos/{REPO.upper()}/../../{OTHER}/releases",
    f"/repos/{REPO}/releases/%2e%2e/%2e%2e/%2e%2e/{OTHER}/releases",
    f"/repos/{REPO}/releases/../../../{OTHER}/releases",
], ids=["plain", "dots", "encoded-dots", "dots-after"])
def test_explicit_url_to_another_repository_on_the_same_host_is_refused(
        github_server, path) -> None:  # noqa: F811
    token = loopback_github(github_server)
    with client(github_server.api_url, token) as gh, pytest.raises(ScopeRefused) as err:
        gh.call("repos/list-releases", url=github_server.api_url + path)
    assert "nothing was sent" in (err.value.hint or "")
    assert github_server.requests == []


def test_a_tag_spelling_a_path_cannot_leave_the_repository(github_server) -> None:  # noqa: F811
    token = loopback_github(github_server)
    with client(github_server.api_url, token) as gh, pytest.raises(ScopeRefused,
                                                                   match=r"'\.\.' segment"):
        gh.call("repos/get-release-by-tag", {"tag": f"../../../../{OTHER}/releases/tags/{TAG}"})
    assert github_server.requests == []


def test_verify_github_refuses_such_a_tag_before_any_request(cli, github_server,  # noqa: F811
                                                            monkeypatch, tmp_path) -> None:
    token = loopback_github(github_server)
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    result = cli("verify", "--github", f"{REPO}@../../../../{OTHER}/releases/tags/{TAG}",
                 tmp_path / "download", "--key", tmp_path / "unused.pub")
    assert result.code == 2, result.out + result.err
    assert "is not a valid tag name" in result.err
    assert github_server.requests == []


# -- upload_url ----------------------------------------------------------------------------
def _asset(tmp_path: Path) -> AssetFile:
    path = tmp_path / "tool"
    path.write_bytes(b"tool 1.0")
    return AssetFile("tool", path, 8, hashlib.sha256(b"tool 1.0").hexdigest())


def test_an_upload_url_on_another_host_is_refused_mid_publish(github_server, listen,  # noqa: F811
                                                              tmp_path) -> None:
    """The API answers a draft whose ``upload_url`` points elsewhere: nothing is uploaded."""
    token = loopback_github(github_server)
    # another loopback address: the loopback GitHub's uploads may use any port of 127.0.0.1
    elsewhere = listen(host="127.0.0.2", answer=lambda m, p: (201, {}, b"{}"))
    github_server.uploads_url = elsewhere.url  # what release JSON now says upload_url is
    spec = ReleaseSpec(REPO, TAG, COMMIT, TAG, "notes", False, False, "true", True, False,
                       (_asset(tmp_path),))
    with client(github_server.api_url, token) as gh, pytest.raises(ScopeRefused) as err:
        Publisher(gh, spec, log=lambda _: None, pause=lambda _: None).publish()
    assert f"to {elsewhere.url}/repos/{REPO}/releases/" in err.value.message
    assert "another host" in err.value.message
    assert elsewhere.seen == []


@pytest.mark.parametrize("where", ["other-repository", "api-host", "other-port"])
def test_an_upload_url_elsewhere_is_refused(github_server, listen, tmp_path,  # noqa: F811
                                            where) -> None:
    token = loopback_github(github_server)
    elsewhere = listen(answer=lambda m, p: (201, {}, b"{}"))
    url = {"other-repository": f"{github_server.uploads_url}/repos/{OTHER}/releases/1/assets",
           # an upload goes to the uploads host, never to the API host
           "api-host": f"{github_server.api_url}/repos/{REPO}/releases/1/assets",
           "other-port": f"{elsewhere.url}/repos/{REPO}/releases/1/assets"}[where]
    # the loopback GitHub's uploads may be on any port of its address, unless configured:
    # then the port is exact, as on github.com
    extra = {"uploads_url": github_server.uploads_url} if where != "other-repository" else {}
    with client(github_server.api_url, token, **extra) as gh, \
            pytest.raises(ScopeRefused), _asset(tmp_path).path.open("rb") as f:
        gh.call("repos/upload-release-asset", url=url, query={"name": "tool"}, content=f,
                headers={"Content-Type": "application/octet-stream", "Content-Length": "8"})
    assert elsewhere.seen == [] and github_server.requests == []


# -- pagination Link -----------------------------------------------------------------------
def _linked_api(listen: Callable[..., Listener], link: Callable[[str], str]) -> Listener:
    """A fake API whose first page of releases links its next page to ``link(api_url)``."""
    api = listen()

    def answer(method: str, path: str) -> Answer:
        if path.endswith("page=1"):
            return 200, {"Link": f'<{link(api.url)}>; rel="next"'}, b"[]"
        return 200, {}, b"[]"
    api.answer = answer
    return api


@pytest.mark.parametrize("where", ["other-host", "other-repository"])
def test_a_pagination_link_elsewhere_is_refused(listen, where) -> None:
    elsewhere = listen()
    api = _linked_api(listen, lambda url: {
        "other-host": f"{elsewhere.url}/repos/{REPO}/releases?per_page=100&page=2",
        "other-repository": f"{url}/repos/{OTHER}/releases?per_page=100&page=2"}[where])
    with client(api.url) as gh, pytest.raises(ScopeRefused, match="another"):
        list(paged(gh, "repos/list-releases"))
    assert elsewhere.seen == []
    assert [s.path for s in api.seen] == [f"/repos/{REPO}/releases?per_page=100&page=1"]


# -- redirects -----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["other-host", "other-repository"])
def test_a_redirect_out_of_scope_is_refused(listen, where) -> None:
    elsewhere = listen(answer=lambda m, p: (200, {}, b"{}"))
    api = listen()
    target = {"other-host": f"{elsewhere.url}/repos/{REPO}",
              "other-repository": f"{api.url}/repos/{OTHER}"}[where]
    api.answer = lambda m, p: ((301, {"Location": target}, b"") if p == f"/repos/{REPO}"
                               else (200, {}, b"{}"))
    with client(api.url) as gh, pytest.raises(ScopeRefused, match="GitHub redirected GET"):
        gh.call("repos/get")
    assert elsewhere.seen == []
    assert [s.path for s in api.seen] == [f"/repos/{REPO}"]


def test_mint_and_revoke_stay_on_the_api_host(listen) -> None:
    """The two non-repository endpoints keep their fixed paths on the API host."""
    elsewhere = listen()
    with client("http://127.0.0.3:9") as gh:  # the API host: nothing is sent there either
        for op, url in (("apps/revoke-installation-access-token", f"{elsewhere.url}/installation/"
                         "token"), ("apps/create-installation-access-token",
                                    f"{elsewhere.url}/app/installations/1/access_tokens")):
            with pytest.raises(ScopeRefused):
                gh.call(op, url=url)
    assert elsewhere.seen == []
