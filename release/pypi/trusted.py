"""PyPI trusted publishing: a GitHub Actions OIDC token exchanged for a short-lived API token.

The exchange (https://docs.pypi.org/trusted-publishers/using-a-publisher/):

1. ``GET {host}/_/oidc/audience`` -> ``{"audience": "pypi"}`` (``testpypi`` on TestPyPI),
   read only to check it equals the configured audience (``pypi``/``testpypi`` for PyPI
   and TestPyPI, the stage's ``audience`` otherwise): the index never picks the audience
   of a token it receives (``sigstore`` would let it sign as the release workflow);
2. the job's OIDC token for that audience, from ``$ACTIONS_ID_TOKEN_REQUEST_URL`` with
   ``&audience=...`` and bearer ``$ACTIONS_ID_TOKEN_REQUEST_TOKEN``;
3. ``POST {host}/_/oidc/mint-token`` with ``{"token": JWT}`` -> ``{"token": "pypi-..."}``;
   a refusal is ``{"errors": [{"code", "description"}]}``.

The minted token lives in memory only, is registered with the redactor the moment it
arrives, and is never written anywhere. The OIDC token is a secret too (it could be
exchanged again while valid) and is handled the same way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release.errors import StageFailed
from release.pypi.transport import IndexClient, credential_forms, describe
from release.pypi.urls import IndexUrls
from release.signing.oidc import AUDIENCE as SIGSTORE_AUDIENCE
from release.signing.oidc import REQUEST_TOKEN, REQUEST_URL, github_actions_token

#: Claims worth showing when an exchange is refused: they say which publisher PyPI
#: looked for. None of them is secret (gh-action-pypi-publish prints them too).
SHOWN_CLAIMS = ("sub", "repository", "repository_owner", "workflow_ref", "job_workflow_ref",
                "ref", "environment")
PUBLISHER_HINT = ("check the project's trusted publisher on the index (Your projects -> "
                  "Publishing): owner, repository, workflow file name and environment must "
                  "match the job exactly")


@dataclass(frozen=True, repr=False)
class MintedToken:
    """An API token scoped to the projects this publisher may upload; never printed."""

    value: str
    expires: str | None = None
    #: The workflow the OIDC token named (``job_workflow_ref``), what PyPI matched.
    workflow_ref: str = ""

    def __repr__(self) -> str:
        return "MintedToken(***)"


def mint_token(urls: IndexUrls, audience: str, secrets: Mapping[str, str],
               add_secret: Callable[[str], None], log: Callable[[str], None]) -> MintedToken:
    """Exchange the job's OIDC identity for an upload token of ``urls``' index; the OIDC
    token's audience is ``audience`` (from configuration), never the index's choice."""
    if audience.strip().lower() == SIGSTORE_AUDIENCE:
        raise StageFailed(f"trusted publishing: refusing to request an OIDC token with "
                          f"Sigstore's audience {audience!r} for an index",
                          "set the index's own audience with `audience`")
    url, bearer = secrets.get(REQUEST_URL), secrets.get(REQUEST_TOKEN)
    if not url or not bearer:
        raise StageFailed(
            "trusted publishing needs GitHub Actions' OIDC: ACTIONS_ID_TOKEN_REQUEST_URL/"
            "_TOKEN are not set",
            "run this stage in the generated workflow (its job has id-token: write), or "
            "give an API token with `token-env` for an index without trusted publishing")
    with IndexClient(io_timeout=30.0) as client:
        _check_audience(client, urls, audience)
        jwt = github_actions_token(url, bearer, audience)
        add_secret(jwt)
        doc_url = urls.oidc + "mint-token"
        import httpx

        try:
            resp = client.http.post(doc_url, json={"token": jwt})
        except httpx.HTTPError as exc:
            raise StageFailed(f"trusted publishing: cannot reach {doc_url} ({describe(exc)})",
                              "retry the job; the index may be unavailable") from None
        body = _json(resp.content)
        token = body.get("token") if isinstance(body, dict) else None
        if resp.status_code == 200 and isinstance(token, str) and token:
            for form in credential_forms(token):  # with its Authorization encodings
                add_secret(form)
            expires = body.get("expires")
            log(f"trusted publishing: minted a short-lived upload token at {urls.oidc} "
                f"(audience {audience!r}; held in memory only)")
            claims = claims_of(jwt)
            ref = claims.get("job_workflow_ref") or claims.get("workflow_ref") or ""
            return MintedToken(token, str(expires) if expires is not None else None,
                               str(ref))
    raise StageFailed(f"trusted publishing refused by {doc_url} (HTTP {resp.status_code}): "
                      f"{_errors(body, resp.text)}; the token presented {_claims(jwt)}",
                      PUBLISHER_HINT)


def _check_audience(client: IndexClient, urls: IndexUrls, expected: str) -> None:
    """The index's ``/_/oidc/audience`` must equal ``expected``; checked before any token
    is requested."""
    doc = client.get(urls.oidc + "audience", accept="application/json",
                     what="trusted publishing")
    if doc.status == 404:
        raise StageFailed(f"{urls.oidc}audience does not exist: this index does not offer "
                          "trusted publishing", "give an API token with `token-env`")
    audience = doc.json("trusted publishing").get("audience") \
        if doc.status == 200 and doc.body[:1] == b"{" else None
    if not isinstance(audience, str) or not audience:
        raise StageFailed(f"trusted publishing: {urls.oidc}audience answered HTTP "
                          f"{doc.status} without an audience: {doc.text(200)}",
                          "is repository-url the index's upload URL?")
    if audience != expected:
        raise StageFailed(f"trusted publishing: {urls.oidc}audience answered {audience[:100]!r}"
                          f", not the configured audience {expected!r}; no OIDC token was "
                          "requested", "check repository-url and `audience`: an index that "
                          "asks for another audience could use the token elsewhere")


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def _errors(body: Any, text: str) -> str:
    """The index's ``errors`` list as ``code: description`` pairs, else the raw text."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        parts = [f"{e.get('code', '?')}: {' '.join(str(e.get('description', '')).split())}"
                 for e in errors if isinstance(e, dict)]
        return "; ".join(parts)[:600]
    return " ".join(text.split())[:300] or "no details"


def _claims(jwt: str) -> str:
    """The token's identifying claims, read unverified (it is ours, fresh from GitHub)."""
    claims = claims_of(jwt)
    shown = {k: claims[k] for k in SHOWN_CLAIMS if k in claims}
    return json.dumps(shown, sort_keys=True) if shown else "(no readable claims)"


def claims_of(jwt: str) -> dict[str, Any]:
    """Unverified claims of a JWT (for facts such as the workflow it names)."""
    try:
        part = jwt.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
