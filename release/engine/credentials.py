"""Per-stage environments and tokens.

A stage's process starts from an empty environment plus an allowlist. Credentials
reach it only as its permissions allow: the GitHub token with a GitHub permission,
the OIDC request variables with ``id-token: write``, and cache or runtime tokens of
GitHub Actions never.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from release.engine.redaction import OIDC_VARIABLES, looks_secret
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

#: Variables the engine sets itself for every stage (besides ``ALLOWED`` and the caches).
ENGINE_SET = frozenset({"HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "SOURCE_DATE_EPOCH"})

__all__ = ["ALLOWED", "GATED", "holds_credential", "looks_secret", "refused_variable",
           "stage_environment"]

#: Variables that make a loader, a shell or an interpreter run code or read files that
#: the build did not name: the dynamic loader (``LD_PRELOAD``, ``LD_AUDIT``), shells'
#: start-up files, and each language's options, module paths and start-up hooks.
_STEERING = frozenset({
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH",
    "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF",
    "MALLOC_CHECK_", "MALLOC_TRACE", "TMPPREFIX", "ZDOTDIR",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    "DOTNET_STARTUP_HOOKS", "CORECLR_PROFILER", "CORECLR_ENABLE_PROFILING",
    "LUA_INIT", "LUA_PATH", "LUA_CPATH", "TCLLIBPATH", "R_PROFILE", "R_PROFILE_USER",
    "R_ENVIRON", "R_ENVIRON_USER", "PHPRC", "PHP_INI_SCAN_DIR", "EDITOR", "VISUAL",
    "PAGER", "SSH_ASKPASS", "SUDO_ASKPASS", "BROWSER", "OPENSSL_CONF", "OPENSSL_ENGINES",
    "OPENSSL_MODULES", "SSLKEYLOGFILE", "http_proxy", "https_proxy", "HTTP_PROXY",
    "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
})
_STEERING_PREFIXES = ("LD_", "DYLD_", "PYTHON", "NODE_", "PERL", "RUBY", "GEM_", "BUNDLE_",
                      "GIT_", "BASH_FUNC_", "NPM_CONFIG_", "npm_config_", "PIP_", "UV_",
                      "CARGO_", "RUSTC", "GO", "CGO_")
#: Harmless variables under those prefixes that builds set on purpose.
_NOT_STEERING = frozenset({"PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING", "GOOS",
                           "GOARCH", "GOARM", "GOAMD64", "GO111MODULE", "GOEXPERIMENT",
                           "GOTOOLCHAIN", "CGO_ENABLED", "CARGO_BUILD_TARGET",
                           "CARGO_PROFILE_RELEASE_DEBUG", "CARGO_INCREMENTAL",
                           "NODE_ENV",
                           # module proxies only (no `direct`): release/stages/fetchers.py
                           "GOPROXY"})


_CREDENTIAL_NAME = re.compile(r"AUTH|_KEY(_ID)?$|ACCESS_KEY|COOKIE|KUBECONFIG|DOCKER_CONFIG|"
                              r"NETRC", re.IGNORECASE)
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]*:[^/@\s]+@")


def holds_credential(name: str, value: str) -> bool:
    """Whether a variable (by name, or by a password in a URL value) gives access to
    something: what a build must not read from the engine's environment."""
    return bool(value) and (looks_secret(name) or name in GATED
                            or bool(_CREDENTIAL_NAME.search(name))
                            or bool(_URL_WITH_PASSWORD.search(value)))


def refused_variable(name: str) -> str | None:
    """Why a stage's ``env`` may not set ``name``, or None when it may."""
    if name in ENGINE_SET or name in ALLOWED:
        return (f"{name} is set by the engine for every stage (the scrubbed environment, "
                "CI facts and trust settings); a stage cannot override it")
    if name in _STEERING or (name.startswith(_STEERING_PREFIXES)
                             and name not in _NOT_STEERING):
        return (f"{name} makes a loader, a shell or an interpreter (or a package manager) "
                "run code or read settings the build did not name; put the setting in the "
                "build's command line or in a committed file instead")
    return None


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
