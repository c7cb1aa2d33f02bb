"""Per-stage environments and tokens.

A stage's process starts from an empty environment plus an allowlist. Credentials
reach it only as its permissions allow: the GitHub token with a GitHub permission,
the OIDC request variables with ``id-token: write``, and cache or runtime tokens of
GitHub Actions never.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from release.engine.redaction import OIDC_VARIABLES
from release.permissions import Level, PermissionSet

#: Copied from the outside environment when set: tool lookup and CI metadata.
ALLOWED = (
    "PATH", "CI", "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_REPOSITORY_ID",
    "GITHUB_REPOSITORY_OWNER", "GITHUB_SHA", "GITHUB_REF", "GITHUB_REF_NAME", "GITHUB_REF_TYPE",
    "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT", "GITHUB_WORKFLOW",
    "GITHUB_WORKFLOW_REF", "GITHUB_WORKFLOW_SHA", "GITHUB_JOB", "GITHUB_EVENT_NAME",
    "GITHUB_SERVER_URL", "GITHUB_API_URL", "GITHUB_ACTOR", "RUNNER_OS", "RUNNER_ARCH",
    # where the host keeps its CA certificates (e.g. behind a TLS-inspecting proxy):
    # trust settings, not secrets; integrity still comes from pinned hashes
    "SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
)
GITHUB_TOKEN = "GITHUB_TOKEN"  # noqa: S105 - a variable name, not a secret


GATED = frozenset({GITHUB_TOKEN, *OIDC_VARIABLES})


def stage_environment(
    outside: Mapping[str, str],
    permissions: PermissionSet,
    *,
    home: Path,
    tmp: Path,
    source_date_epoch: int,
    plain: Mapping[str, str],
    secret_names: Iterable[str] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """The environment a stage's process sees, and the secrets among it.

    Returns ``(env, secrets)``; ``secrets`` is the subset that must never be printed.
    """
    env = {name: outside[name] for name in ALLOWED if name in outside}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({
        "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "TZ": "UTC", "SOURCE_DATE_EPOCH": str(source_date_epoch),
    })
    secrets: dict[str, str] = {}
    if permissions.has_github_access() and outside.get(GITHUB_TOKEN):
        secrets[GITHUB_TOKEN] = outside[GITHUB_TOKEN]
    if permissions.get_level("id-token") == Level.WRITE:
        secrets.update({n: outside[n] for n in OIDC_VARIABLES if outside.get(n)})
    # a variable a stage's config names (a passphrase, a registry password) never opens a
    # way around the rules above: the GitHub token, the OIDC variables and the runner's
    # own ACTIONS_* credentials reach a stage only through its permissions, or never
    secrets.update({n: outside[n] for n in secret_names
                    if outside.get(n) and n not in GATED and not n.startswith("ACTIONS_")})
    env.update(plain)
    env.update(secrets)
    return env, secrets
