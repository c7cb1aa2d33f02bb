"""ScopedGitHub: refusals before any I/O, the permission table against GitHub's behaviour,
retries only where safe, and the loopback server's JSON against githubkit's models."""

from __future__ import annotations

import io
import json

import pytest

from release.errors import UsageError
from release.github.client import ScopedGitHub
from release.github.failures import GitHubRefused, RetryPolicy, ScopeRefused, TransientError
from release.github.operations import OPERATIONS
from release.github.pagination import paged
from release.github.urls import Endpoint, api_url
from release.permissions import Level, PermissionSet
from tests.github_server import Fault, GitHubServer
from tests.security.test_github_scope import listen  # noqa: F401  (fixture)

REPO = "octo/demo"
FAST = RetryPolicy(attempts=3, base=0.05)


def client(server: GitHubServer, token: str | None, **perms: Level) -> ScopedGitHub:
    return ScopedGitHub(REPO, PermissionSet(perms), token=token, stage="publish",
                        base_url=server.api_url, retry=FAST)


def test_refused_before_any_request(github_server: GitHubServer) -> None:
    github_server.add_repo(REPO)
    token = github_server.add_token("actions", permissions={"contents": "write"})
    with client(github_server, token, contents=Level.READ) as gh, \
            pytest.raises(ScopeRefused) as err:
        gh.call("repos/create-release", body={"tag_name": "v1", "draft": True})
    assert err.value.message == (
        "stage 'publish' may not call repos/create-release (POST /repos/{owner}/{repo}/"
        "releases): it needs contents: write, and the stage has contents: read")
    assert "nothing was sent to GitHub" in (err.value.hint or "")
    assert err.value.exit_code == 1
    assert github_server.requests == []


def test_attestations_need_their_own_permission(github_server: GitHubServer) -> None:
    github_server.add_repo(REPO)
    with client(github_server, "unused", contents=Level.WRITE) as gh, \
            pytest.raises(ScopeRefused, match="needs attestations: write, and the stage has "
                                              "attestations: none"):
        gh.call("repos/create-attestation", body={"bundle": {}})
    assert github_server.requests == []


def test_a_stage_without_github_permissions_may_not_even_read(github_server) -> None:
    github_server.add_repo(REPO)
    with client(github_server, None) as gh, pytest.raises(ScopeRefused, match="metadata: read"):
        gh.call("repos/get")
    assert github_server.requests == []


_REPO_OPS = [op for op in OPERATIONS.values() if op.permission not in (None, "metadata")]


@pytest.mark.parametrize("op", _REPO_OPS, ids=[op.id for op in _REPO_OPS])
def test_table_matches_what_github_enforces(github_server: GitHubServer, op) -> None:
    """With one level less than the table says, GitHub refuses; with it, GitHub lets it by."""
    github_server.add_repo(REPO, private=True)
    github_server.set_tag(REPO, "v1", "a" * 40)
    params = {"tag": "v1", "tag_sha": "b" * 40, "release_id": 1, "asset_id": 2,
              "subject_digest": "sha256:" + "c" * 64}
    upload = (github_server.uploads_url + f"/repos/{REPO}/releases/1/assets"
              if op.id == "repos/upload-release-asset" else None)
    below = "read" if op.level == Level.WRITE else "none"
    for level, refused in ((below, True), (str(op.level), False)):
        token = github_server.add_token("fine-grained", permissions={op.permission: level},
                                        repositories=(REPO,))
        # the client is granted everything: this asks GitHub itself, with a narrow token
        gh = ScopedGitHub(REPO, PermissionSet({"contents": Level.WRITE,
                                               "attestations": Level.WRITE}),
                          token=token, stage="t", base_url=github_server.api_url,
                          extra={"administration": Level.READ}, retry=FAST)
        with gh:
            try:
                gh.call(op.id, params, url=upload, body={"tag_name": "v1"},
                        query={"name": "x"} if upload else None)
                status = 200
            except GitHubRefused as exc:
                status = exc.status
        assert (status == 403) is refused, (op.id, level, status)


def test_idempotent_calls_are_retried_and_posts_are_not(github_server: GitHubServer) -> None:
    github_server.add_repo(REPO)
    token = github_server.add_token("actions", permissions={"contents": "write"})
    github_server.inject(Fault("status", "GET", r"/releases$"))
    github_server.inject(Fault("status", "POST", r"/releases$"))
    with client(github_server, token, contents=Level.WRITE) as gh:
        assert list(paged(gh, "repos/list-releases")) == []
        with pytest.raises(TransientError) as err:
            gh.call("repos/create-release", body={"tag_name": "v1", "draft": True})
    assert err.value.maybe_applied
    calls = [(r.method, r.status) for r in github_server.requests]
    assert calls == [("GET", 502), ("GET", 200), ("POST", 502)]


def test_rate_limit_waits_for_retry_after(github_server: GitHubServer) -> None:
    github_server.add_repo(REPO)
    token = github_server.add_token("actions", permissions={"contents": "write"})
    github_server.inject(Fault("rate-limit", "POST", r"/releases$", status=429))
    with client(github_server, token, contents=Level.WRITE) as gh:
        rel = gh.call("repos/create-release", body={"tag_name": "v1", "draft": True})
    assert rel["draft"] is True
    assert [(r.method, r.status) for r in github_server.requests] == [("POST", 429),
                                                                     ("POST", 201)]


def test_errors_name_the_call_and_what_github_wanted(github_server: GitHubServer) -> None:
    github_server.add_repo(REPO)
    token = github_server.add_token("actions", permissions={"contents": "read"})
    gh = ScopedGitHub(REPO, PermissionSet({"contents": Level.WRITE}), token=token, stage="s",
                      base_url=github_server.api_url, retry=FAST)
    with gh, pytest.raises(GitHubRefused) as err:
        gh.call("repos/create-release", body={"tag_name": "v1"})
    assert err.value.message.startswith("GitHub refused POST /repos/octo/demo/releases "
                                        "(repos/create-release): 403 Resource not accessible")
    assert "GitHub wants contents=write" in (err.value.hint or "")
    assert token not in err.value.render()


def test_timeouts_are_always_set_and_api_url_is_honoured(github_server) -> None:
    assert api_url({}) == "https://api.github.com"
    assert api_url({"GITHUB_API_URL": "https://ghe.example/api/v3/"}) == \
        "https://ghe.example/api/v3"
    with client(github_server, None) as gh:
        assert gh._gh is not None
        timeout = gh._gh.config.timeout
        assert None not in (timeout.connect, timeout.read, timeout.write, timeout.pool)
        assert gh._gh.config.auto_retry is None


def test_server_json_follows_githubs_schema(github_server: GitHubServer) -> None:
    """The loopback server's shapes validate against githubkit's generated models."""
    from githubkit.compat import type_validate_python
    from githubkit_schemas.latest.models import Release, ReleaseAsset

    github_server.add_repo(REPO)
    github_server.set_tag(REPO, "v1", "a" * 40)
    token = github_server.add_token("actions", permissions={"contents": "write"})
    with client(github_server, token, contents=Level.WRITE) as gh:
        rel = gh.call("repos/create-release", body={"tag_name": "v1", "draft": True})
        asset = gh.call("repos/upload-release-asset", url=rel["upload_url"].split("{")[0],
                        query={"name": "a.txt"}, content=io.BytesIO(b"abc"),
                        headers={"Content-Type": "text/plain", "Content-Length": "3"})
        published = gh.call("repos/update-release", {"release_id": rel["id"]},
                            body={"draft": False})
    type_validate_python(Release, published)
    type_validate_python(ReleaseAsset, asset)
    assert asset["digest"] == ("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                               "f20015ad")
    assert published["immutable"] is True


# -- where the token may go: GitHub's own URLs pass (the attacks: tests/security) ----------
def test_uploads_host_follows_githubs_layout() -> None:
    def uploads(api: str) -> str:
        return Endpoint.parse(api).uploads().describe()

    assert uploads("https://api.github.com") == "https://uploads.github.com"
    assert uploads("https://api.octo.ghe.com/") == "https://uploads.octo.ghe.com"
    assert uploads("https://ghe.example/api/v3") == "https://ghe.example/api/uploads"
    assert uploads("http://127.0.0.1:8080") == "http://127.0.0.1:*"
    assert uploads("https://proxy.example:8443/github") == "https://proxy.example:8443/github"
    for bad in ("ftp://api.github.com", "https://user:pw@api.github.com", "api.github.com",
                "https://api.github.com:99999", "https://api.github.com/?x=1"):
        with pytest.raises(UsageError, match="is not an http"):
            Endpoint.parse(bad)


def test_githubs_own_urls_are_in_scope() -> None:
    gh = ScopedGitHub("Octo/Demo", PermissionSet({"contents": Level.WRITE}), token="t",
                      stage="s", base_url="https://ghe.example/api/v3")
    for op_id, url in (
            ("repos/upload-release-asset",
             "https://ghe.example/api/uploads/repos/octo/demo/releases/5/assets?name=a.txt"),
            ("repos/get-release-by-tag",
             "https://ghe.example:443/api/v3/repos/OCTO/demo/releases/tags/release/1.0"),
            ("repos/list-releases",
             "https://ghe.example/api/v3/repos/Octo/Demo/releases?per_page=100&page=3")):
        gh.authorize(OPERATIONS[op_id], url)
    for op_id, url in (
            ("repos/upload-release-asset",  # an upload on the API path
             "https://ghe.example/api/v3/repos/octo/demo/releases/5/assets"),
            ("repos/get-release", "https://ghe.example/api/v3/repos/octo/demo/releases/5/x"),
            ("repos/get-release", "http://ghe.example/api/v3/repos/octo/demo/releases/5"),
            ("repos/get", "https://ghe.example/repos/octo/demo")):
        with pytest.raises(ScopeRefused):
            gh.authorize(OPERATIONS[op_id], url)


def test_githubs_pagination_links_are_asked_on_the_scoped_url(listen) -> None:  # noqa: F811
    """GitHub writes next links as /repositories/ID/...: the next page is asked for on our
    own URL; a next link in scope is followed as it is."""
    api = listen()

    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        page = int(path.rsplit("=", 1)[1])
        nxt = {1: f"{api.url}/repositories/42/releases?per_page=100&page=2",
               2: f"{api.url}/repos/{REPO}/releases?per_page=100&page=3"}.get(page)
        links = {"Link": f'<{nxt}>; rel="next", <{api.url}/x>; rel="last"'} if nxt else \
            {"Link": f'<{api.url}/repos/{REPO}/releases?page=1>; rel="first"'}
        return 200, links, json.dumps([{"page": page}]).encode()
    api.answer = answer
    with ScopedGitHub(REPO, PermissionSet({"contents": Level.READ}), token="tok",
                      stage="s", base_url=api.url) as gh:
        assert [r["page"] for r in paged(gh, "repos/list-releases")] == [1, 2, 3]
    assert [s.path for s in api.seen] == [f"/repos/{REPO}/releases?per_page=100&page={n}"
                                          for n in (1, 2, 3)]
    assert api.tokens == ["token tok"] * 3


def test_redirects_in_scope_are_followed_and_downloads_leave_without_the_token(
        listen) -> None:  # noqa: F811
    storage = listen(answer=lambda m, p: (200, {"Content-Type": "application/octet-stream"},
                                          b"tool 1.0"))
    api = listen()
    api.answer = lambda m, p: (
        (301, {"Location": f"/repos/{REPO}/releases/assets/8"}, b"") if p.endswith("/7") else
        (302, {"Location": f"{storage.url}/o/8?sig=abc"}, b""))
    with ScopedGitHub(REPO, PermissionSet({"contents": Level.READ}), token="tok",
                      stage="s", base_url=api.url) as gh:
        resp = gh.stream("repos/get-release-asset", {"asset_id": 7},
                         headers={"Accept": "application/octet-stream"})
        try:
            assert resp.read() == b"tool 1.0"
        finally:
            resp.close()
    assert [s.path for s in api.seen] == [f"/repos/{REPO}/releases/assets/7",
                                          f"/repos/{REPO}/releases/assets/8"]
    assert api.tokens == ["token tok"] * 2
    # GitHub's storage URL is pre-signed: it gets no credential
    assert [s.path for s in storage.seen] == ["/o/8?sig=abc"] and storage.tokens == []
