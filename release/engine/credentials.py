"""Per-stage environments and tokens, and redaction of secrets from everything printed.

A stage's process starts from an empty environment plus an allowlist. Credentials
reach it only as its permissions allow: the GitHub token with a GitHub permission,
the OIDC request variables with ``id-token: write``, and cache or runtime tokens of
GitHub Actions never.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from release.permissions import Level, PermissionSet

#: Copied from the outside environment when set: tool lookup and CI metadata.
ALLOWED = (
    "PATH", "CI", "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_REPOSITORY_ID",
    "GITHUB_REPOSITORY_OWNER", "GITHUB_SHA", "GITHUB_REF", "GITHUB_REF_NAME", "GITHUB_REF_TYPE",
    "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT", "GITHUB_WORKFLOW",
    "GITHUB_WORKFLOW_REF", "GITHUB_WORKFLOW_SHA", "GITHUB_JOB", "GITHUB_EVENT_NAME",
    "GITHUB_SERVER_URL", "GITHUB_API_URL", "GITHUB_ACTOR", "RUNNER_OS", "RUNNER_ARCH",
)
GITHUB_TOKEN = "GITHUB_TOKEN"  # noqa: S105 - a variable name, not a secret
OIDC_VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
#: Names whose values are secrets wherever they appear.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSPHRASE|PRIVATE_KEY|CREDENTIAL|API_KEY",
                          re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"
)
MASK = "***"


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
    secrets.update({n: outside[n] for n in secret_names if outside.get(n)})
    env.update(plain)
    env.update(secrets)
    return env, secrets


class Redactor:
    """Masks known secret values and anything shaped like a GitHub token or a JWT."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Redactor:
        values = [v for k, v in environ.items()
                  if (_SECRET_NAME.search(k) or k in OIDC_VARIABLES) and len(v) >= 6]
        return cls(values)

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if v and len(v) >= 4} - self._values
        if new:
            self._values |= new
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _TOKEN_SHAPES.sub(MASK, text)
