"""Token sources: App installation tokens minted narrow, checked and revoked; classic tokens
refused when their scopes exceed the stage's needs."""

from __future__ import annotations

import pytest

from release.errors import StageFailed
from release.github.tokens import (
    TokenConfig,
    check_classic_scopes,
    needed_scopes,
    stage_token,
)
from release.permissions import Level, PermissionSet
from tests.github.conftest import PIPELINE, REPOSITORY, ReleaseSetup
from tests.github_server import App, GitHubServer

CONTENTS_WRITE = PermissionSet({"contents": Level.WRITE})
APP_CONFIG = TokenConfig(source="app")


def app_secrets(app: App) -> dict[str, str]:
    return {"GITHUB_APP_ID": str(app.app_id), "GITHUB_APP_INSTALLATION_ID":
            str(app.installation_id), "GITHUB_APP_PRIVATE_KEY": app.private_key_pem}


def mint(server: GitHubServer, app: App, permissions: PermissionSet = CONTENTS_WRITE,
         **kw: object):  # type: ignore[no-untyped-def]
    return stage_token(APP_CONFIG, app_secrets(app), repository=REPOSITORY,
                       permissions=permissions, extra=kw.get("extra", {}),  # type: ignore[arg-type]
                       base_url=server.api_url, stage="publish", log=lambda _: None)


def test_app_token_has_exactly_the_stage_permissions_and_is_revoked(github_server) -> None:
    github_server.add_repo(REPOSITORY)
    github_server.add_repo("octo/other")
    app = github_server.add_app({"contents": "write", "issues": "write", "actions": "write"},
                                (REPOSITORY, "octo/other"))
    with mint(github_server, app) as token:
        held = github_server.tokens[token.value]
        assert held.permissions == {"contents": "write", "metadata": "read"}
        assert held.repositories == (REPOSITORY,)
        assert not held.revoked
        assert token.kind == "installation"
    assert held.revoked
    methods = [(r.method, r.path, r.token_kind) for r in github_server.requests]
    assert methods == [("POST", f"/app/installations/{app.installation_id}/access_tokens",
                        "app-jwt"), ("DELETE", "/installation/token", "installation")]


def test_token_is_revoked_when_the_stage_fails(github_server) -> None:
    github_server.add_repo(REPOSITORY)
    app = github_server.add_app({"contents": "write"}, (REPOSITORY,))
    with pytest.raises(RuntimeError), mint(github_server, app) as token:
        raise RuntimeError("stage failed")
    assert github_server.tokens[token.value].revoked


def test_app_without_the_permission_is_refused(github_server) -> None:
    github_server.add_repo(REPOSITORY)
    app = github_server.add_app({"contents": "read"}, (REPOSITORY,))
    with pytest.raises(StageFailed) as err, mint(github_server, app):
        pass
    assert "422 The permissions requested are not granted to this installation" in \
        err.value.message


def test_broader_grant_than_requested_is_refused_and_revoked(github_server) -> None:
    github_server.add_repo(REPOSITORY)
    app = github_server.add_app({"contents": "write", "issues": "write"}, (REPOSITORY,))
    app.broaden = {"issues": "write"}
    with pytest.raises(StageFailed) as err, mint(github_server, app):
        pass
    assert err.value.message == (
        "refusing the installation token for stage 'publish': GitHub granted contents: write, "
        "issues: write, metadata: read for contents: write requested")
    [minted] = [t for t in github_server.tokens.values() if t.kind == "installation"]
    assert minted.revoked


def test_wrong_private_key_is_rejected_by_github(github_server) -> None:
    github_server.add_repo(REPOSITORY)
    app = github_server.add_app({"contents": "write"}, (REPOSITORY,))
    other = github_server.add_app({"contents": "write"}, (REPOSITORY,))
    secrets = {**app_secrets(app), "GITHUB_APP_PRIVATE_KEY": other.private_key_pem}
    with pytest.raises(StageFailed, match="401"), stage_token(
            APP_CONFIG, secrets, repository=REPOSITORY, permissions=CONTENTS_WRITE, extra={},
            base_url=github_server.api_url, stage="publish", log=lambda _: None):
        pass


def test_missing_app_credentials_name_the_variables(github_server) -> None:
    with pytest.raises(StageFailed) as err, stage_token(
            APP_CONFIG, {}, repository=REPOSITORY, permissions=CONTENTS_WRITE, extra={},
            base_url=github_server.api_url, stage="publish", log=lambda _: None):
        pass
    assert "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, GITHUB_APP_INSTALLATION_ID not set" in \
        err.value.message
    assert github_server.requests == []


@pytest.mark.parametrize(("scopes", "private", "excess"), [
    ("repo, workflow", False, "repo, workflow"),
    ("repo", False, "repo"),
    ("public_repo, admin:org", False, "admin:org"),
    ("repo, delete_repo", True, "delete_repo"),
])
def test_classic_scopes_beyond_the_need_are_refused(scopes: str, private: bool,
                                                    excess: str) -> None:
    with pytest.raises(StageFailed) as err:
        check_classic_scopes({"X-OAuth-Scopes": scopes}, CONTENTS_WRITE, private=private,
                             allow_broad=False, stage="publish", log=lambda _: None)
    assert err.value.message.endswith(f"so {excess} is excess privilege")
    assert "allow-broad-token" in (err.value.hint or "")


def test_classic_scopes_that_fit_or_are_allowed_pass() -> None:
    warnings: list[str] = []
    check_classic_scopes({"X-OAuth-Scopes": "public_repo"}, CONTENTS_WRITE, private=False,
                         allow_broad=False, stage="s", log=warnings.append)
    check_classic_scopes({}, CONTENTS_WRITE, private=False, allow_broad=False, stage="s",
                         log=warnings.append)  # fine-grained: no header
    assert warnings == []
    check_classic_scopes({"X-OAuth-Scopes": "repo, workflow"}, CONTENTS_WRITE, private=False,
                         allow_broad=True, stage="s", log=warnings.append)
    assert warnings and warnings[0].startswith("WARNING: ")
    assert needed_scopes(PermissionSet({"contents": Level.READ}), private=False) == set()
    assert needed_scopes(PermissionSet({"contents": Level.READ}), private=True) == {"repo"}


def test_classic_token_is_refused_end_to_end_before_any_write(cli, release_setup: ReleaseSetup,
                                                              monkeypatch) -> None:
    token = release_setup.server.add_token("classic", scopes=("repo", "workflow"))
    monkeypatch.setenv("GITHUB_TOKEN", token)
    result = cli("run", release_setup.pipeline, "--out", release_setup.out,
                 cwd=release_setup.repo.path)
    assert result.code == 1
    assert "has scopes repo, workflow; the stage needs public_repo" in result.out
    assert [r.method for r in release_setup.server.requests] == ["GET"]
    assert token not in result.out + result.err


def test_app_token_source_end_to_end(cli, release_setup: ReleaseSetup, monkeypatch) -> None:
    server = release_setup.server
    app = server.add_app({"contents": "write", "administration": "read"}, (REPOSITORY,))
    for name, value in app_secrets(app).items():
        monkeypatch.setenv(name, value)
    text = PIPELINE.replace("    needs: [build, checksums]\n",
                            "    needs: [build, checksums]\n    read-setting: true\n"
                            "    token: {source: app}\n")
    release_setup.pipeline.write_text(text)
    release_setup.repo.commit("use the App")
    release_setup.repo.path.joinpath(".git/refs/tags/v1.0.0").write_text(
        release_setup.repo.path.joinpath(".git/refs/heads/main").read_text())
    server.set_tag(REPOSITORY, "v1.0.0",
                   release_setup.repo.path.joinpath(".git/refs/heads/main").read_text().strip())
    result = cli("run", release_setup.pipeline, "--out", release_setup.out,
                 cwd=release_setup.repo.path)
    assert result.code == 0, result.out + result.err
    assert "immutable releases are on in octo/demo" in result.err
    [minted] = [t for t in server.tokens.values() if t.kind == "installation"]
    assert minted.permissions == {"contents": "write", "administration": "read",
                                  "metadata": "read"}
    assert minted.revoked
    assert app.private_key_pem.splitlines()[1] not in result.out + result.err


def test_broad_classic_token_accepted_when_allowed(cli, release_setup: ReleaseSetup,
                                                   monkeypatch) -> None:
    token = release_setup.server.add_token("classic", scopes=("repo",))
    monkeypatch.setenv("GITHUB_TOKEN", token)
    text = PIPELINE.replace("    needs: [build, checksums]\n",
                            "    needs: [build, checksums]\n"
                            "    token: {allow-broad-token: true}\n")
    release_setup.pipeline.write_text(text)
    commit = release_setup.repo.commit("allow a broad token")
    release_setup.repo.path.joinpath(".git/refs/tags/v1.0.0").write_text(commit + "\n")
    release_setup.server.set_tag(REPOSITORY, "v1.0.0", commit)
    result = cli("run", release_setup.pipeline, "--out", release_setup.out,
                 cwd=release_setup.repo.path)
    assert result.code == 0, result.out + result.err
    assert "WARNING: the classic token for stage 'publish' has scopes repo" in result.err
    assert token not in result.out + result.err


def test_broad_classic_token_refused_then_accepted_with_the_flag(cli, release_setup: ReleaseSetup,
                                                                 monkeypatch) -> None:
    token = release_setup.server.add_token("classic", scopes=("repo", "workflow"))
    monkeypatch.setenv("GITHUB_TOKEN", token)
    refused = cli("run", release_setup.pipeline, "--out", release_setup.out,
                  cwd=release_setup.repo.path)
    assert refused.code == 1
    assert "allow-broad-token" in refused.out
    assert release_setup.published() == []
    accepted = cli("run", release_setup.pipeline, "--out", release_setup.out,
                   "--allow-broad-token", cwd=release_setup.repo.path)
    assert accepted.code == 0, accepted.out + accepted.err
    assert "WARNING: the classic token for stage 'publish' has scopes" in accepted.err
    assert token not in refused.out + refused.err + accepted.out + accepted.err
