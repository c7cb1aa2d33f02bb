"""Where a stage's GitHub token comes from, and the checks that keep it narrow.

- ``github-token``: the job's ``GITHUB_TOKEN`` (scoped by the job's ``permissions:``,
  which :mod:`release.github.drift` compares with the stage's).
- ``token``: a personal access token in a named variable. Fine-grained tokens are
  scoped by their owner; a classic token announces its scopes in ``X-OAuth-Scopes`` and
  is refused when they exceed what the stage needs, unless ``allow-broad-token`` is set
  (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps).
- ``app``: a GitHub App. Each stage mints its own installation token for exactly its
  permissions and this one repository, checks what GitHub granted, and revokes it when
  the stage ends. We mint it ourselves: githubkit's App strategy silently drops
  permission names it does not know, which would widen the token.
  https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from release.errors import StageFailed
from release.permissions import Level, PermissionSet

_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"


class TokenConfig(BaseModel):
    """The ``token:`` key of a GitHub stage: names of variables, never values."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Literal["github-token", "token", "app"] = "github-token"
    variable: str = Field(default="GITHUB_TOKEN", pattern=_ENV,
                          description="For `token`: the variable holding the token.")
    app_id: str = Field(default="GITHUB_APP_ID", alias="app-id", pattern=_ENV)
    private_key: str = Field(default="GITHUB_APP_PRIVATE_KEY", alias="private-key",
                             pattern=_ENV)
    installation_id: str = Field(default="GITHUB_APP_INSTALLATION_ID",
                                 alias="installation-id", pattern=_ENV)
    allow_broad_token: bool = Field(
        default=False, alias="allow-broad-token",
        description="Accept a classic token whose scopes exceed the stage's needs.")

    def variables(self) -> frozenset[str]:
        if self.source == "token":
            return frozenset({self.variable})
        if self.source == "app":
            return frozenset({self.app_id, self.private_key, self.installation_id})
        return frozenset({"GITHUB_TOKEN"})

    def describe(self, repository: str, permissions: PermissionSet) -> str:
        """Where the token comes from, for plans (reads no credential)."""
        if self.source == "app":
            return (f"GitHub App installation token (app ${self.app_id}, installation "
                    f"${self.installation_id}), minted for {permissions.describe()} on "
                    f"{repository} only and revoked when the stage ends")
        if self.source == "token":
            return (f"personal access token in ${self.variable} (a classic token's "
                    "X-OAuth-Scopes must not exceed the stage's needs)")
        return "GITHUB_TOKEN of the job (its permissions: must match the stage's)"


@dataclass(frozen=True)
class StageToken:
    """A token for one stage; ``kind`` is github-token, token or installation."""

    value: str
    kind: str
    source: str


#: Workflow permission names -> GitHub App permission names (``id-token`` is Actions-only).
APP_NAMES = {"actions": "actions", "attestations": "attestations", "checks": "checks",
             "contents": "contents", "deployments": "deployments",
             "discussions": "discussions", "issues": "issues", "packages": "packages",
             "pages": "pages", "pull-requests": "pull_requests",
             "repository-projects": "repository_projects",
             "security-events": "security_events", "statuses": "statuses",
             "administration": "administration"}


def requested_app_permissions(permissions: PermissionSet,
                              extra: Mapping[str, Level]) -> dict[str, str]:
    wanted = {APP_NAMES[n]: str(lvl) for n, lvl in permissions.items() if n in APP_NAMES}
    wanted.update({APP_NAMES[n]: str(lvl) for n, lvl in extra.items() if lvl > Level.NONE})
    return wanted


@contextmanager
def stage_token(config: TokenConfig, secrets: Mapping[str, str], *, repository: str,
                permissions: PermissionSet, extra: Mapping[str, Level], base_url: str,
                stage: str, log: Callable[[str], None]) -> Iterator[StageToken]:
    """The stage's token; an App installation token is revoked when the block ends."""
    if config.source != "app":
        name = config.variable if config.source == "token" else "GITHUB_TOKEN"
        value = secrets.get(name, "")
        if not value:
            hint = ("in GitHub Actions pass `GITHUB_TOKEN: ${{ github.token }}` in the "
                    "step's env" if name == "GITHUB_TOKEN" else
                    f"set {name} to a fine-grained token for {repository}")
            raise StageFailed(f"stage {stage!r} needs a GitHub token in {name}, which is not "
                              "set", hint)
        yield StageToken(value, config.source, config.describe(repository, permissions))
        return
    minted = mint_installation_token(config, secrets, repository=repository,
                                     permissions=permissions, extra=extra,
                                     base_url=base_url, stage=stage, log=log)
    try:
        yield minted
    finally:
        revoke_installation_token(minted, base_url=base_url, stage=stage, log=log)


def _app_credentials(config: TokenConfig, secrets: Mapping[str, str]) -> tuple[str, str, int]:
    missing = [n for n in (config.app_id, config.private_key, config.installation_id)
               if not secrets.get(n)]
    if missing:
        raise StageFailed(f"GitHub App credentials are missing: {', '.join(missing)} not set",
                          "set the App id, its private key (PEM) and the installation id")
    app_id = secrets[config.app_id].strip()
    key = secrets[config.private_key].replace("\\n", "\n").strip()
    try:
        installation = int(secrets[config.installation_id].strip())
    except ValueError:
        raise StageFailed(f"{config.installation_id} is not a number",
                          "use the numeric installation id from the App's settings") from None
    if not key.startswith("-----BEGIN"):
        raise StageFailed(f"{config.private_key} does not hold a PEM private key",
                          "paste the App's private key file (.pem) into the secret")
    return app_id, key, installation


def app_jwt(app_id: str, private_key_pem: str, *, now: float | None = None) -> str:
    """An RS256 JWT for the App, valid ten minutes, issued a minute in the past for skew.

    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    issued = int(now if now is not None else time.time()) - 60

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iat": issued, "exp": issued + 600, "iss": app_id}).encode())
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), None)
    except (ValueError, TypeError) as exc:
        raise StageFailed("the GitHub App private key cannot be loaded",
                          "use the unencrypted PEM key GitHub generated for the App") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise StageFailed("the GitHub App private key is not an RSA key",
                          "GitHub Apps sign their JWTs with RS256")
    sig = key.sign(f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{claims}.{b64(sig)}"


def mint_installation_token(config: TokenConfig, secrets: Mapping[str, str], *,
                            repository: str, permissions: PermissionSet,
                            extra: Mapping[str, Level], base_url: str, stage: str,
                            log: Callable[[str], None]) -> StageToken:
    """Mint, then check that GitHub granted exactly what was asked for this one repository."""
    from release.github.client import ScopedGitHub

    app_id, key, installation = _app_credentials(config, secrets)
    wanted = requested_app_permissions(permissions, extra)
    name = repository.split("/", 1)[1]
    with ScopedGitHub(repository, permissions, token=None, stage=stage, base_url=base_url,
                      log=log) as gh:
        data = gh.call("apps/create-installation-access-token",
                       {"installation_id": installation},
                       body={"repositories": [name], "permissions": wanted},
                       headers={"Authorization": f"Bearer {app_jwt(app_id, key)}"})
    token = StageToken(str(data.get("token", "")), "installation",
                       config.describe(repository, permissions))
    granted = dict(data.get("permissions") or {})
    repos = [r.get("full_name") for r in data.get("repositories") or []]
    problems = []
    if granted != {**wanted, "metadata": "read"}:
        problems.append(f"GitHub granted {_fmt(granted)} for {_fmt(wanted)} requested")
    if data.get("repository_selection") != "selected" or repos != [repository]:
        problems.append(f"the token covers {', '.join(map(str, repos)) or 'all repositories'}"
                        f", not only {repository}")
    if problems or not token.value:
        if token.value:
            revoke_installation_token(token, base_url=base_url, stage=stage, log=log)
        raise StageFailed(f"refusing the installation token for stage {stage!r}: "
                          + "; ".join(problems or ["GitHub returned no token"]),
                          "check the App's permissions and the repositories it is installed on")
    log(f"minted an installation token for {repository}: {_fmt(granted)}")
    return token


def revoke_installation_token(token: StageToken, *, base_url: str, stage: str,
                              log: Callable[[str], None]) -> None:
    """Revoke; a failure is reported, and the token expires within the hour anyway."""
    from release.errors import ReleaseError
    from release.github.client import ScopedGitHub

    try:
        with ScopedGitHub("-/-", PermissionSet(), token=token.value, stage=stage,
                          base_url=base_url, log=log) as gh:
            gh.call("apps/revoke-installation-access-token")
        log("revoked the installation token")
    except ReleaseError as exc:
        log(f"WARNING: could not revoke the installation token ({exc.message}); "
            "it expires within an hour")


def _fmt(perms: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(perms.items())) or "nothing"


# -- classic tokens ----------------------------------------------------------------------------
def needed_scopes(permissions: PermissionSet, *, private: bool) -> set[str]:
    """The classic OAuth scopes a stage with these permissions needs on one repository."""
    needed: set[str] = set()
    repo_wide = {n for n in permissions if n not in ("id-token", "packages")}
    if any(permissions[n] == Level.WRITE for n in repo_wide) or (private and repo_wide):
        needed.add("repo" if private else "public_repo")
    if "packages" in permissions:
        needed.add("write:packages" if permissions["packages"] == Level.WRITE
                   else "read:packages")
    return needed


def check_classic_scopes(headers: Mapping[str, str], permissions: PermissionSet, *,
                         private: bool, allow_broad: bool, stage: str,
                         log: Callable[[str], None]) -> None:
    """Refuse a classic token whose ``X-OAuth-Scopes`` exceed what the stage needs."""
    header = headers.get("X-OAuth-Scopes")
    if header is None:
        return  # fine-grained, installation and Actions tokens carry no scopes
    scopes = {s.strip() for s in header.split(",") if s.strip()}
    excess = sorted(scopes - needed_scopes(permissions, private=private))
    if not excess:
        return
    need = ", ".join(sorted(needed_scopes(permissions, private=private))) or "none"
    text = (f"the classic token for stage {stage!r} has scopes {', '.join(sorted(scopes))}; "
            f"the stage needs {need}, so {', '.join(excess)} is excess privilege")
    if allow_broad:
        log(f"WARNING: {text} (accepted: allow-broad-token is set)")
        return
    raise StageFailed(text, "use a fine-grained token limited to this repository, or set "
                            "`allow-broad-token: true` under the stage's `token:` to accept it")
