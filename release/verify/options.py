"""What ``release verify`` checks a release folder or an image against, and the checks of
the command-line options both share."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from release.errors import UsageError
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


def signer_options(args: argparse.Namespace) -> tuple[ExpectedIdentity | None, str | None]:
    """Who must have signed, checked the same for a folder and an image: the trust root
    (one, and a file), the identity (``--repository`` with ``--tag``) or ``--key``, and
    ``--commit``. The identity and the commit; misuse is a usage error."""
    from release.verify.identity import parse_commit

    if args.trusted_root is not None and args.staging:
        raise UsageError("--trusted-root and --staging both name a trust root",
                         "pass one of them")
    if args.trusted_root is not None and not args.trusted_root.is_file():
        raise UsageError(f"--trusted-root {args.trusted_root} is not a file")
    if bool(args.repository) != bool(args.tag):
        missing = "--tag" if args.repository else "--repository"
        raise UsageError(f"{missing} is missing", "the signer's identity needs both "
                         "--repository OWNER/NAME and --tag TAG")
    if not args.repository and args.key is None:
        raise UsageError("nothing to verify the signatures against",
                         "pass --repository and --tag (Sigstore), or --key PUB.pem")
    identity = (ExpectedIdentity.parse(args.repository, args.tag, args.workflow, args.commit)
                if args.repository else None)
    return identity, identity.commit if identity else parse_commit(args.commit)


def check_attestation_options(args: argparse.Namespace) -> None:
    """The two trust roots are of two instances: never the same file, nor a JSONL of both."""
    if "://" not in args.predicate_type or any(c.isspace() for c in args.predicate_type):
        raise UsageError(f"--predicate-type {args.predicate_type!r} is not a URI",
                         f"for example {SLSA_PROVENANCE_V1}")
    root = args.github_trusted_root
    if root is None:
        return
    if not root.is_file():
        raise UsageError(f"--github-trusted-root {root} is not a file")
    from release.verify.github_instance import GitHubTrust

    GitHubTrust(root).load()  # a file that is not a trusted root is misuse, found now
    if args.trusted_root is not None and args.trusted_root.is_file() and \
            args.trusted_root.read_bytes() == root.read_bytes():
        raise UsageError("--trusted-root and --github-trusted-root are the same trusted root",
                         "they are two Sigstore instances: the public-good one signs build "
                         "provenance, GitHub's own signs release attestations")
