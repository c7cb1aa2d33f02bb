"""The signer a release must come from: a GitHub Actions workflow at a tag.

Fulcio writes the GitHub claims into certificate extensions
(https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md); we check the
SAN (the workflow URI), the issuer, the repository, the ref and, when known, the
commit, with sigstore-python's own policy classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from release.errors import UsageError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify.policy import VerificationPolicy

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_HOSTED = "github-hosted"
#: Fulcio's v2 Runner Environment extension (a DER UTF8String).
_RUNNER_ENVIRONMENT = "1.3.6.1.4.1.57264.1.11"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")
#: Fulcio's v1 extensions: raw UTF-8 values (1.3.6.1.4.1.57264.1.1 - .6).
_V1 = {"issuer": "1.3.6.1.4.1.57264.1.1", "commit": "1.3.6.1.4.1.57264.1.3",
       "repository": "1.3.6.1.4.1.57264.1.5", "ref": "1.3.6.1.4.1.57264.1.6"}


def parse_commit(value: str | None) -> str | None:
    """A ``--commit`` value: a full SHA-1 commit id, lowercased; anything else is misuse."""
    if value is None:
        return None
    commit = value.lower()
    if not _COMMIT.match(commit):
        raise UsageError(f"--commit {value!r} is not a full 40-hex commit id",
                         "use `git rev-parse TAG^{commit}`")
    return commit


@dataclass(frozen=True)
class ExpectedIdentity:
    """Who must have signed: ``repository`` OWNER/NAME, ``tag``, the workflow file name."""

    repository: str
    tag: str
    workflow: str = "release.yml"
    commit: str | None = None
    issuer: str = GITHUB_ISSUER
    #: ``--deny-self-hosted-runners``: the certificate's Runner Environment must say
    #: ``github-hosted``, on every signature the run checks.
    deny_self_hosted: bool = False

    @classmethod
    def parse(cls, repository: str, tag: str, workflow: str = "release.yml",
              commit: str | None = None) -> ExpectedIdentity:
        """Check and normalize command-line values; bad ones are a usage error."""
        if not _REPOSITORY.match(repository):
            raise UsageError(f"--repository {repository!r} is not OWNER/NAME",
                             "for example --repository octo-org/octo-repo")
        # a full ref (refs/heads/main) names a non-tag signer, e.g. a branch workflow
        tag = tag.removeprefix("refs/tags/")
        if not tag or tag == "refs/" or any(c.isspace() for c in tag):
            raise UsageError(f"--tag {tag!r} is not a tag name", "for example --tag v1.2.3")
        workflow = workflow.removeprefix(".github/workflows/")
        if not _WORKFLOW.match(workflow):
            raise UsageError(f"--workflow {workflow!r} is not a workflow file name",
                             "give the file name in .github/workflows, e.g. release.yml")
        return cls(repository, tag, workflow, parse_commit(commit))

    @property
    def ref(self) -> str:
        return self.tag if self.tag.startswith("refs/") else f"refs/tags/{self.tag}"

    @property
    def san(self) -> str:
        """The certificate SAN Fulcio gives a GitHub workflow run: its workflow ref URI."""
        return f"https://github.com/{self.repository}/.github/workflows/{self.workflow}@{self.ref}"

    def describe(self) -> str:
        commit = f", commit {self.commit}" if self.commit else ""
        runner = ", a GitHub-hosted runner" if self.deny_self_hosted else ""
        return (f"{self.san} (issuer {self.issuer}, repository {self.repository}{commit}"
                f"{runner})")

    def policy(self) -> VerificationPolicy:
        """sigstore-python's policy for this identity: every part must match."""
        from sigstore.verify import policy

        parts: list[VerificationPolicy] = [
            policy.Identity(identity=self.san, issuer=self.issuer),
            policy.GitHubWorkflowRepository(self.repository),
            policy.GitHubWorkflowRef(self.ref),
        ]
        if self.commit:
            parts.append(policy.GitHubWorkflowSHA(self.commit))
        if self.deny_self_hosted:
            parts.append(policy.OIDCRunnerEnvironment(GITHUB_HOSTED))
        return policy.AllOf(parts)

    def mismatches(self, cert: Certificate) -> list[tuple[str, str, str]]:
        """``(what, expected, found)`` for each part of the certificate that differs."""
        found = certificate_identity(cert)
        wanted = {"identity": self.san, "issuer": self.issuer, "repository": self.repository,
                  "ref": self.ref}
        if self.commit:
            wanted["commit"] = self.commit
        out = []
        for key, value in wanted.items():
            have = found.get(key)
            if key == "identity":
                if value not in found.get("sans", "").split(" "):
                    out.append(("identity (SAN)", value, found.get("sans") or "none"))
            elif have != value:
                out.append((key, value, have or "not in the certificate"))
        if self.deny_self_hosted:
            runner = runner_environment(cert)
            if runner != GITHUB_HOSTED:
                out.append(("runner environment (self-hosted runners are denied)",
                            GITHUB_HOSTED, runner or "not in the certificate"))
        return out


def runner_environment(cert: Certificate) -> str | None:
    """The certificate's Runner Environment (``github-hosted``, ``self-hosted``), if any."""
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier

    from release.pem.der import utf8_string

    try:
        ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(_RUNNER_ENVIRONMENT)).value
    except ExtensionNotFound:
        return None
    raw = getattr(ext, "value", b"")
    return utf8_string(raw) if isinstance(raw, bytes) else None


def certificate_identity(cert: Certificate) -> dict[str, str]:
    """The identity facts of a Fulcio certificate: SANs, issuer, repository, ref, commit."""
    from cryptography.x509 import (
        ExtensionNotFound,
        ObjectIdentifier,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    facts: dict[str, str] = {}
    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
        names = [*san.get_values_for_type(UniformResourceIdentifier),
                 *san.get_values_for_type(RFC822Name)]
        facts["sans"] = " ".join(names)
    except ExtensionNotFound:
        facts["sans"] = ""
    for key, oid in _V1.items():
        try:
            ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except ExtensionNotFound:
            continue
        raw = getattr(ext, "value", b"")
        facts[key] = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
    return facts
