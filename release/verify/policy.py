"""The policy an artifact attestation must meet, as ``gh attestation verify`` puts it.

The signing certificate (Fulcio's extensions, https://github.com/sigstore/fulcio/blob/
main/docs/oid-info.md) must name the expected GitHub Actions run: issuer GitHub's OIDC;
SAN (Build Signer URI, ``job_workflow_ref``) and Build Config URI (``workflow_ref``) the
repository's workflow at the tag (``--repository``, ``--workflow``, ``--tag``: gh's
``--repo``, ``--signer-workflow``, ``--source-ref``); the Source Repository URI the
repository; the Source Repository Ref the tag; the Source Repository Digest the commit
(``--commit``, or the tag's commit read from GitHub: gh's ``--source-digest``); with
``--deny-self-hosted-runners``, the Runner Environment ``github-hosted``. Each is
checked by sigstore-python's policy classes during verification; the breakdown here
only explains a refusal.

The statement must have the expected predicate type (``--predicate-type``, default SLSA
provenance v1), and a provenance predicate of GitHub's build type must name the same
workflow in ``externalParameters.workflow`` (repository, path and ref,
https://actions.github.io/buildtypes/workflow/v1): the certificate says who signed, the
predicate what was built, and both must be the release workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release.pem.der import utf8_string
from release.verify.identity import (
    GITHUB_HOSTED,
    GITHUB_ISSUER,
    ExpectedIdentity,
    certificate_identity,
)

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify.policy import VerificationPolicy

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
#: Fulcio's v2 extensions: DER UTF8String values (1.3.6.1.4.1.57264.1.8 onwards).
_V2 = {"issuer (v2)": "1.3.6.1.4.1.57264.1.8", "build signer": "1.3.6.1.4.1.57264.1.9",
       "runner environment": "1.3.6.1.4.1.57264.1.11",
       "source repository": "1.3.6.1.4.1.57264.1.12",
       "source digest": "1.3.6.1.4.1.57264.1.13", "source ref": "1.3.6.1.4.1.57264.1.14",
       "build config": "1.3.6.1.4.1.57264.1.18"}


@dataclass(frozen=True)
class AttestationPolicy:
    """Who must have signed an attestation, and what its statement must say."""

    identity: ExpectedIdentity
    predicate_type: str = SLSA_PROVENANCE_V1
    deny_self_hosted: bool = False

    @property
    def workflow_uri(self) -> str:
        return self.identity.san

    @property
    def repository_uri(self) -> str:
        return f"https://github.com/{self.identity.repository}"

    def describe(self) -> str:
        runner = ", a GitHub-hosted runner" if self.deny_self_hosted else ""
        commit = f", commit {self.identity.commit}" if self.identity.commit else ""
        return f"{self.workflow_uri} ({self.identity.ref}{commit}{runner})"

    def policy(self) -> VerificationPolicy:
        """sigstore-python's policy: every part must match."""
        from sigstore.verify import policy

        ident = self.identity
        parts: list[VerificationPolicy] = [
            policy.Identity(identity=self.workflow_uri, issuer=GITHUB_ISSUER),
            policy.OIDCBuildConfigURI(self.workflow_uri),
            policy.OIDCSourceRepositoryURI(self.repository_uri),
            policy.OIDCSourceRepositoryRef(ident.ref),
        ]
        if ident.commit:
            parts.append(policy.OIDCSourceRepositoryDigest(ident.commit))
        if self.deny_self_hosted or ident.deny_self_hosted:
            parts.append(policy.OIDCRunnerEnvironment(GITHUB_HOSTED))
        return policy.AllOf(parts)

    def mismatches(self, cert: Certificate) -> list[tuple[str, str, str]]:
        """``(what, expected, found)`` for each part of the certificate that differs."""
        facts = certificate_facts(cert)
        wanted = {"build config": self.workflow_uri, "source repository": self.repository_uri,
                  "source ref": self.identity.ref}
        if self.identity.commit:
            wanted["source digest"] = self.identity.commit
        if self.deny_self_hosted or self.identity.deny_self_hosted:
            wanted["runner environment"] = GITHUB_HOSTED
        out = []
        if self.workflow_uri not in facts.get("sans", "").split(" "):
            out.append(("identity (SAN)", self.workflow_uri, facts.get("sans") or "none"))
        issuer = facts.get("issuer (v2)") or facts.get("issuer")
        if issuer != GITHUB_ISSUER:
            out.append(("issuer", GITHUB_ISSUER, issuer or "not in the certificate"))
        for key, value in wanted.items():
            if facts.get(key) != value:
                what = ("runner environment (self-hosted runners are denied)"
                        if key == "runner environment" else key)
                out.append((what, value, facts.get(key) or "not in the certificate"))
        return out

    def workflow_problems(self, statement: Any) -> list[tuple[str, str, str]]:
        """``externalParameters.workflow`` of a GitHub-built provenance, if it has one."""
        predicate = statement.get("predicate") if isinstance(statement, dict) else None
        build = predicate.get("buildDefinition") if isinstance(predicate, dict) else None
        params = build.get("externalParameters") if isinstance(build, dict) else None
        workflow = params.get("workflow") if isinstance(params, dict) else None
        if workflow is None:
            return []  # another build type (this tool's own has no workflow parameter)
        if not isinstance(workflow, dict):
            return [("externalParameters.workflow", "an object", type(workflow).__name__)]
        wanted = {"repository": self.repository_uri,
                  "path": f".github/workflows/{self.identity.workflow}",
                  "ref": self.identity.ref}
        out = []
        for key, value in wanted.items():
            have = workflow.get(key)
            same = (isinstance(have, str) and have.rstrip("/").lower() == value.lower()
                    if key == "repository" else have == value)
            if not same:
                out.append((f"externalParameters.workflow.{key}", value,
                            str(have) if have is not None else "missing"))
        return out


def certificate_facts(cert: Certificate) -> dict[str, str]:
    """The v1 identity facts (:func:`certificate_identity`) plus Fulcio's v2 extensions."""
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier

    facts = certificate_identity(cert)
    for key, oid in _V2.items():
        try:
            ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except ExtensionNotFound:
            continue
        raw = getattr(ext, "value", b"")
        if isinstance(raw, bytes):
            facts[key] = utf8_string(raw)
    return facts
