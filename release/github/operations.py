"""Every GitHub REST operation we call, with the permission GitHub requires for it.

The table is the single source of truth for :class:`release.github.client.ScopedGitHub`:
a call whose permission the stage was not granted is refused before any network I/O.
Permissions are taken from GitHub's tables, which list every endpoint under the
permission it needs:

- https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps
- https://docs.github.com/en/rest/authentication/permissions-required-for-fine-grained-personal-access-tokens

``metadata: read`` is granted implicitly to every token that can see a repository
(https://docs.github.com/en/apps/creating-github-apps/registering-a-github-app/choosing-permissions-for-a-github-app#repository-permissions-for-metadata).
``administration`` is not a workflow permission: ``GITHUB_TOKEN`` never has it, so a
stage gets it only as an explicit extra grant of a personal or App token.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.permissions import Level

DOCS = "https://docs.github.com/en/rest"


@dataclass(frozen=True)
class Operation:
    """One REST operation: method, path template, the permission it needs, and retry safety."""

    id: str
    method: str
    path: str
    #: GitHub permission name (``contents``, ``metadata``...) or None for app/token endpoints.
    permission: str | None
    level: Level
    #: Safe to repeat blindly after a transport error or a 5xx.
    idempotent: bool
    docs: str

    def describe_permission(self) -> str:
        if self.permission is None:
            return "no repository permission"
        return f"{self.permission}: {self.level}"


def _op(id_: str, method: str, path: str, permission: str | None, level: Level,
        docs: str, *, idempotent: bool | None = None) -> Operation:
    safe = method in ("GET", "HEAD", "DELETE", "PUT") if idempotent is None else idempotent
    return Operation(id_, method, path, permission, level, safe, f"{DOCS}/{docs}")


R, W = Level.READ, Level.WRITE
REPO = "/repos/{owner}/{repo}"

OPERATIONS: dict[str, Operation] = {op.id: op for op in (
    _op("repos/get", "GET", REPO, "metadata", R, "repos/repos#get-a-repository"),
    _op("git/get-ref", "GET", REPO + "/git/ref/tags/{tag}", "contents", R,
        "git/refs#get-a-reference"),
    _op("git/get-tag", "GET", REPO + "/git/tags/{tag_sha}", "contents", R,
        "git/tags#get-a-tag"),
    _op("repos/check-immutable-releases", "GET", REPO + "/immutable-releases",
        "administration", R,
        "repos/repos#check-if-immutable-releases-are-enabled-for-a-repository"),
    _op("repos/list-releases", "GET", REPO + "/releases", "contents", R,
        "releases/releases#list-releases"),
    _op("repos/get-release", "GET", REPO + "/releases/{release_id}", "contents", R,
        "releases/releases#get-a-release"),
    _op("repos/get-release-by-tag", "GET", REPO + "/releases/tags/{tag}", "contents", R,
        "releases/releases#get-a-release-by-tag-name"),
    # generate-notes only renders text; repeating it changes nothing
    _op("repos/generate-release-notes", "POST", REPO + "/releases/generate-notes",
        "contents", W, "releases/releases#generate-release-notes-content-for-a-release",
        idempotent=True),
    _op("repos/create-release", "POST", REPO + "/releases", "contents", W,
        "releases/releases#create-a-release"),
    # we always send the complete desired state, so a repeated PATCH lands on the same state
    _op("repos/update-release", "PATCH", REPO + "/releases/{release_id}", "contents", W,
        "releases/releases#update-a-release", idempotent=True),
    _op("repos/delete-release", "DELETE", REPO + "/releases/{release_id}", "contents", W,
        "releases/releases#delete-a-release"),
    _op("repos/list-release-assets", "GET", REPO + "/releases/{release_id}/assets",
        "contents", R, "releases/assets#list-release-assets"),
    _op("repos/get-release-asset", "GET", REPO + "/releases/assets/{asset_id}", "contents",
        R, "releases/assets#get-a-release-asset"),
    _op("repos/delete-release-asset", "DELETE", REPO + "/releases/assets/{asset_id}",
        "contents", W, "releases/assets#delete-a-release-asset"),
    # posted to the release's upload_url (uploads.github.com), not to the API host
    _op("repos/upload-release-asset", "POST", REPO + "/releases/{release_id}/assets",
        "contents", W, "releases/assets#upload-a-release-asset"),
    _op("repos/create-attestation", "POST", REPO + "/attestations", "attestations", W,
        "repos/attestations#create-an-attestation"),
    _op("repos/list-attestations", "GET", REPO + "/attestations/{subject_digest}",
        "attestations", R, "repos/attestations#list-attestations"),
    # authenticated as the App (a JWT), not with a repository permission
    _op("apps/create-installation-access-token", "POST",
        "/app/installations/{installation_id}/access_tokens", None, Level.NONE,
        "apps/apps#create-an-installation-access-token-for-an-app"),
    _op("apps/revoke-installation-access-token", "DELETE", "/installation/token", None,
        Level.NONE, "apps/installations#revoke-an-installation-access-token"),
)}

#: Permissions every repository token carries, whatever was requested.
IMPLICIT = {"metadata": Level.READ}


def operation(op_id: str) -> Operation:
    """The operation ``op_id``; an unknown id is a programming error."""
    try:
        return OPERATIONS[op_id]
    except KeyError:
        raise KeyError(f"no GitHub operation {op_id!r} in the permission table") from None
