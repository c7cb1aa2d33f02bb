"""What ``release verify`` checks a release folder against."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from release.verify import attestation_sources
from release.verify.github_instance import GitHubTrust
from release.verify.identity import ExpectedIdentity
from release.verify.policy import SLSA_PROVENANCE_V1
from release.verify.sigstore_bundles import Trust


@dataclass(frozen=True)
class VerifyOptions:
    """What to verify and against what: a keyless identity, a public key, or both."""

    directory: Path
    identity: ExpectedIdentity | None = None
    trust: Trust = field(default_factory=Trust)
    key: Path | None = None
    commit: str | None = None
    require_provenance: bool = False
    #: Globs (``fnmatch``, on the path relative to ``directory``) of files to leave out.
    ignore: tuple[str, ...] = ()
    #: Attestations: GitHub's own instance (release attestations), and the policy extras.
    github_trust: GitHubTrust = field(default_factory=GitHubTrust)
    predicate_type: str = SLSA_PROVENANCE_V1
    deny_self_hosted: bool = False
    #: Attestations GitHub's API gave (``--github``), verified like files and saved.
    fetched: tuple[attestation_sources.Candidate, ...] = ()
    #: ``--github``: the folder holds the whole release; GitHub must have attested it.
    complete: bool = False
    expect_release: bool = False
