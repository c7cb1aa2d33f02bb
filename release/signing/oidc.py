"""Where a keyless signature's identity comes from: an OIDC token, and how plans describe it.

In GitHub Actions a job with ``id-token: write`` gets two variables and asks GitHub
for a token with the audience Sigstore expects
(https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#updating-your-actions-for-oidc).
Elsewhere the token comes from a variable the stage names (``identity-token-env``).
Plans never read either: they describe the identity the token will carry.
"""

from __future__ import annotations

from collections.abc import Mapping

from release.engine.redaction import OIDC_VARIABLES
from release.engine.source import server_url
from release.errors import StageFailed

AUDIENCE = "sigstore"
#: The variables GitHub sets in a job with ``id-token: write``: the URL and its bearer.
REQUEST_URL, REQUEST_TOKEN = OIDC_VARIABLES
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TIMEOUT = 30.0


def identity_token(secrets: Mapping[str, str], token_env: str | None) -> str:
    """The OIDC token to sign with, from the named variable or GitHub's ambient OIDC."""
    if token_env is not None:
        token = secrets.get(token_env, "").strip()
        if not token:
            raise StageFailed(f"the identity token variable {token_env} is not set",
                              f"export {token_env} with an OIDC token whose audience is "
                              f"{AUDIENCE!r}")
        return token
    url, bearer = secrets.get(REQUEST_URL), secrets.get(REQUEST_TOKEN)
    if not url or not bearer:
        raise StageFailed(
            "no OIDC identity: ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN are not set",
            "run this stage in GitHub Actions with `id-token: write` (the generated "
            "workflow grants it), or set `identity-token-env` to a variable holding a token")
    return github_actions_token(url, bearer)


def github_actions_token(request_url: str, bearer: str, audience: str = AUDIENCE) -> str:
    """Ask the Actions runtime for an ID token (what ``core.getIDToken`` does)."""
    import httpx

    try:
        # keep the URL's own query (api-version=...): httpx's params= would replace it
        url = httpx.URL(request_url).copy_merge_params({"audience": audience})
        resp = httpx.get(url,
                         headers={"Authorization": f"bearer {bearer}",
                                  "Accept": "application/json"},
                         timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise StageFailed(f"cannot reach the GitHub OIDC endpoint: {type(exc).__name__}",
                          "retry the job; GitHub's token service may be unavailable") from None
    if resp.status_code != 200:
        raise StageFailed(f"the GitHub OIDC endpoint answered HTTP {resp.status_code}",
                          "check that the job has `permissions: id-token: write`")
    try:
        value = resp.json()["value"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise StageFailed("the GitHub OIDC endpoint returned no token")
    return value


def expected_identity(env: Mapping[str, str], repository: str | None, ref: str | None,
                      token_env: str | None) -> str:
    """The identity a plan shows, from non-secret facts only (no token is read)."""
    if token_env is not None:
        return f"the identity in the token held by ${token_env} (not read in a plan)"
    server = server_url(env)
    workflow_ref = env.get("GITHUB_WORKFLOW_REF")
    if workflow_ref:
        return f"{server}/{workflow_ref} (issuer {GITHUB_ISSUER})"
    if repository:
        return (f"the OIDC identity of the job: {server}/{repository}/.github/workflows/"
                f"WORKFLOW@{ref or 'REF'} (issuer {GITHUB_ISSUER})")
    return f"the OIDC identity of the GitHub Actions job (issuer {GITHUB_ISSUER})"


def check_token(token: str) -> None:
    """Reject a token Fulcio would refuse, saying why (sigstore-python says "malformed").

    The claims are read unverified, as sigstore-python does: Fulcio checks the signature.
    """
    import base64
    import json
    import time
    from datetime import UTC, datetime

    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if not isinstance(claims, dict):
            raise ValueError
    except ValueError:
        raise StageFailed("the identity token is not a JWT",
                          "pass the raw OIDC ID token (three base64url parts)") from None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if AUDIENCE not in audiences:
        raise StageFailed(f"the identity token's audience is {aud!r}, not {AUDIENCE!r}",
                          f"request the token with audience={AUDIENCE}")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp <= time.time():
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise StageFailed(f"the identity token expired at {when}",
                          "OIDC tokens live minutes: request a fresh one right before signing")
