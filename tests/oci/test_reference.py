"""Image references, registry hosts, and where plain HTTP is allowed."""

from __future__ import annotations

import pytest

from release.oci.reference import Reference, base_url, is_loopback, parse_repository

D = "sha256:" + "0f" * 32


@pytest.mark.parametrize(("text", "host", "api", "repository", "tag", "digest"), [
    (f"alpine@{D}", "docker.io", "registry-1.docker.io", "library/alpine", None, D),
    (f"alpine:3.19@{D}", "docker.io", "registry-1.docker.io", "library/alpine", "3.19", D),
    (f"owner/app@{D}", "docker.io", "registry-1.docker.io", "owner/app", None, D),
    (f"ghcr.io/o/n/sub@{D}", "ghcr.io", "ghcr.io", "o/n/sub", None, D),
    ("localhost:5000/x:v1", "localhost:5000", "localhost:5000", "x", "v1", None),
    (f"127.0.0.1:5000/base/img@{D}", "127.0.0.1:5000", "127.0.0.1:5000", "base/img", None, D),
    (f"[::1]:5000/a_b/c-d@{D}", "[::1]:5000", "[::1]:5000", "a_b/c-d", None, D),
])
def test_parse(text: str, host: str, api: str, repository: str, tag: str | None,
               digest: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.host, ref.api_host, ref.repository, ref.tag, ref.digest) == \
        (host, api, repository, tag, digest)


@pytest.mark.parametrize("text", ["Alpine@" + D, "alpine@sha256:abc", "a//b", "", "x:"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        Reference.parse(text)


def test_repository_needs_a_host() -> None:
    assert parse_repository("ghcr.io/owner/name") == ("ghcr.io", "owner/name")
    assert parse_repository("127.0.0.1:5000/a/b") == ("127.0.0.1:5000", "a/b")
    for bad in ("owner/name", "ghcr.io/Owner/name", "ghcr.io"):
        with pytest.raises(ValueError):
            parse_repository(bad)


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1:5000", "http://127.0.0.1:5000"), ("127.8.9.10", "http://127.8.9.10"),
    ("localhost:5000", "http://localhost:5000"), ("[::1]:5000", "http://[::1]:5000"),
    ("ghcr.io", "https://ghcr.io"), ("10.0.0.1:5000", "https://10.0.0.1:5000"),
    ("localhost.example:5000", "https://localhost.example:5000"),
    ("128.0.0.1", "https://128.0.0.1"),
])
def test_plain_http_only_on_loopback(host: str, url: str) -> None:
    assert base_url(host) == url
    assert is_loopback(host) == url.startswith("http:")
