"""Pushing to a registry that wants tokens: the Bearer flow, with the credential unseen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.errors import StageFailed
from release.oci.auth import Credentials, RegistryAuth, parse_challenge
from tests.conftest import Repo
from tests.oci.conftest import TOKEN_PASSWORD, LocalRegistry, skopeo
from tests.oci.images import image_digest, image_pipeline
from tests.oci.token_server import TokenServer

PUSH = """\
    push:
      repository: {host}/example/authed
      tags: [stable]
      username: bot
      password-env: REGISTRY_PASSWORD
"""


def test_push_with_token_auth(repo: Repo, cli, tmp_path: Path, monkeypatch,
                              token_registry: tuple[LocalRegistry, TokenServer]) -> None:
    registry, tokens = token_registry
    monkeypatch.setenv("REGISTRY_PASSWORD", TOKEN_PASSWORD)
    path = image_pipeline(repo, push=PUSH.format(host=registry.host))
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert ("bot", "repository:example/authed:pull,push") in tokens.requests
    # skopeo logs in the same way and sees the image we built
    seen = json.loads(skopeo("inspect", "--tls-verify=false", "--creds",
                             f"bot:{TOKEN_PASSWORD}",
                             f"docker://{registry.host}/example/authed:stable"))
    assert seen["Digest"] == image_digest(out)
    assert TOKEN_PASSWORD not in res.out + res.err
    assert TOKEN_PASSWORD not in (out / "manifest.json").read_text()


def test_wrong_credential_fails_without_showing_it(
        repo: Repo, cli, tmp_path: Path, monkeypatch,
        token_registry: tuple[LocalRegistry, TokenServer]) -> None:
    registry, _ = token_registry
    wrong = "not-the-password-4711"
    monkeypatch.setenv("REGISTRY_PASSWORD", wrong)
    path = image_pipeline(repo, push=PUSH.format(host=registry.host))
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert (f"the token server of {registry.host} refused access to "
            "repository:example/authed:pull,push with the configured credentials (HTTP 401)"
            in res.err), res.err
    assert wrong not in res.out + res.err


def test_anonymous_push_is_refused(repo: Repo, cli, tmp_path: Path,
                                   token_registry: tuple[LocalRegistry, TokenServer]) -> None:
    registry, _ = token_registry
    push = f"    push: {{repository: {registry.host}/example/anon, tags: [x]}}\n"
    path = image_pipeline(repo, push=push)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "failed: HTTP 401" in res.err and "wants credentials" in res.err, res.err


def test_missing_credential_variable(repo: Repo, cli, tmp_path: Path, monkeypatch,
                                     token_registry: tuple[LocalRegistry, TokenServer]) -> None:
    registry, _ = token_registry
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    path = image_pipeline(repo, push=PUSH.format(host=registry.host))
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "the registry credential variable REGISTRY_PASSWORD is not set" in res.err


def test_challenge_parsing() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://ghcr.io/token", "service": "ghcr.io",
                      "scope": "repository:a/b:pull"}
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic",
                                                               {"realm": "Registry Realm"})


def test_credentials_never_go_to_a_plain_http_token_server() -> None:
    auth = RegistryAuth("registry.example", "repository:a/b:pull",
                        Credentials("bot", "hunter2-secret"))
    with pytest.raises(StageFailed, match="over http") as caught:
        auth._token_request({"realm": "http://auth.example/token"})
    assert "hunter2" not in caught.value.render()
    assert "hunter2" not in repr(auth.credentials)
    request = auth._token_request({"realm": "https://auth.example/token", "service": "s"})
    assert request.url.scheme == "https"


def test_public_base_is_pulled_with_an_anonymous_token(
        repo: Repo, cli, tmp_path: Path, token_registry: tuple[LocalRegistry, TokenServer]
        ) -> None:
    registry, tokens = token_registry
    path = image_pipeline(repo, marker="public-base")
    out = tmp_path / "base"
    assert cli("run", path, "--out", out).code == 0
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"bot:{TOKEN_PASSWORD}",
           f"oci-archive:{out / 'image' / 'image.oci.tar'}",
           f"docker://{registry.host}/public/base:1")
    base = f"{registry.host}/public/base@{image_digest(out)}"
    path = image_pipeline(repo, marker="on-public", base=base)
    res = cli("run", path, "--out", tmp_path / "app")
    assert res.code == 0, res.err
    assert (None, "repository:public/base:pull") in tokens.requests
