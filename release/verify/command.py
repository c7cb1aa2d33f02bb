"""``release verify DIR``: check a downloaded release before trusting it.

Exit codes: 0 every check passed and every file in the folder is covered by one,
1 a check failed or a file is uncovered, 2 bad usage (no such directory, no checksums
file, missing identity, unreadable key or trust root, a key or trust root from inside
the folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import ReleaseError, UsageError
from release.verify.options import check_attestation_options, signer_options
from release.verify.policy import SLSA_PROVENANCE_V1

if TYPE_CHECKING:
    from release.github.download import DownloadedRelease
    from release.verify.attestation_sources import Candidate
    from release.verify.report import Check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``release verify``."""
    parser.add_argument("directory", type=_directory_or_image, metavar="DIR", nargs="?",
                        help="directory holding the release assets (with --github: where "
                        "to download them; default a temporary directory), or an image "
                        "oci://REGISTRY/NAME@sha256:DIGEST whose signatures and "
                        "attestations are read from its registry")
    parser.add_argument("--github", metavar="OWNER/NAME@TAG",
                        help="download the published release from GitHub (GITHUB_API_URL, "
                        "optional GITHUB_TOKEN), check every asset against GitHub's digest "
                        "and that the release is immutable, then verify it")
    parser.add_argument("--repository", metavar="OWNER/NAME",
                        default=os.environ.get("RELEASE_VERIFY_REPOSITORY"),
                        help="GitHub repository the release must come from")
    parser.add_argument("--tag", help="the release's tag (the workflow ran at refs/tags/TAG)")
    parser.add_argument("--workflow", default="release.yml",
                        help="workflow file that signed (default: release.yml)")
    parser.add_argument("--commit", metavar="SHA",
                        help="the tag's commit: the certificate and the provenance must name it")
    parser.add_argument("--trusted-root", type=Path, metavar="FILE",
                        help="Sigstore trusted_root.json: verify fully offline")
    parser.add_argument("--staging", action="store_true",
                        help="verify against Sigstore's staging instance")
    parser.add_argument("--key", type=Path, metavar="PUB.pem",
                        help="public key of a key-signed release (ECDSA P-256)")
    parser.add_argument("--require-provenance", action="store_true",
                        help="fail when the release carries no provenance statement, or an "
                        "asset no verified attestation of --predicate-type names")
    parser.add_argument("--predicate-type", metavar="URI", default=SLSA_PROVENANCE_V1,
                        help="the predicate type an attestation must have to count as an "
                        f"asset's provenance (default {SLSA_PROVENANCE_V1})")
    parser.add_argument("--deny-self-hosted-runners", action="store_true",
                        help="refuse signatures and attestations made on a self-hosted "
                        "runner (every certificate's runner environment must be "
                        "github-hosted)")
    parser.add_argument("--github-trusted-root", type=Path, metavar="FILE",
                        default=os.environ.get("RELEASE_GITHUB_TRUSTED_ROOT") or None,
                        help="trusted_root.json of GitHub's own Sigstore instance, which signs "
                        "release attestations (the second line of `gh attestation "
                        "trusted-root`); env RELEASE_GITHUB_TRUSTED_ROOT")
    parser.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                        help="leave out files whose path relative to DIR matches GLOB "
                        "(fnmatch; repeatable): they are neither read nor verified. Any other "
                        "file that no verified checksum or signature covers fails")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    from release.verify.pypi import add_arguments as add_pypi_arguments

    add_pypi_arguments(parser)


#: What git refuses in a ref name (git-check-ref-format): a tag with these cannot exist,
#: and ``..`` or ``.`` would turn the tag's API path into another one.
_BAD_TAG = re.compile(r"(^|/)\.|\.\.|[\x00-\x20\x7f~^:?*\[\\]|//|/$|^/|\.lock(/|$)|@\{|^@$")


def _directory_or_image(text: str) -> Path | str:
    """A folder as a Path; an ``oci://`` image reference as the text (a Path would fold
    its ``//``)."""
    return text if text.startswith("oci://") else Path(text)


def run(args: argparse.Namespace) -> int:
    """Verify and print the report; 0 only if every check passed."""
    if isinstance(args.directory, str):
        from release.verify.image import verify_image

        if args.github or args.pypi:
            raise UsageError("an oci:// image is verified against its registry, not with "
                             "--github or --pypi", "pass one of them")
        return verify_image(args, args.directory)

    if args.pypi:
        from release.verify.pypi import verify_pypi

        return verify_pypi(args)
    if args.github:
        return _verify_github(args)
    if args.directory is None:
        raise UsageError("DIR is missing", "pass the directory holding the release assets, "
                         "or --github OWNER/NAME@TAG")
    return _verify(args, [])


def _verify_github(args: argparse.Namespace) -> int:
    """Download the release (digest-checked, immutability checked), then verify it."""
    import tempfile

    from release.github.download import download_release
    from release.verify.report import Check, Outcome

    repository, sep, tag = str(args.github).rpartition("@")
    if not sep or "/" not in repository or not tag:
        raise UsageError(f"--github {args.github!r} is not OWNER/NAME@TAG",
                         "for example --github octo/tool@v1.2.3")
    for name, given, derived in (("--repository", args.repository, repository),
                                 ("--tag", args.tag, tag)):
        if given and given != derived:
            raise UsageError(f"{name} {given} contradicts --github {args.github}")
    if _BAD_TAG.search(tag):
        raise UsageError(f"--github {args.github!r}: {tag!r} is not a valid tag name",
                         "git tag names have no '..', no component starting with '.', no "
                         "spaces or control characters (git check-ref-format)")
    args.repository, args.tag = repository, tag
    if args.directory is not None and args.directory.is_symlink():
        raise UsageError(f"{args.directory} is a symlink", "download into a new or empty "
                         "directory, named by its own path: links are not followed")
    if args.directory is not None and args.directory.exists() and (
            not args.directory.is_dir() or any(args.directory.iterdir())):
        raise UsageError(f"{args.directory} is not an empty directory",
                         "download into a new or empty directory: files already there would "
                         "be verified as if they came from the release")
    with tempfile.TemporaryDirectory(prefix="release-verify-") as tmp:
        dest = args.directory or Path(tmp)
        release = download_release(repository, tag, dest, require_immutable=False)
        if args.commit is None and release.commit:
            args.commit = release.commit  # the tag's commit, as GitHub reports it
        args.directory = dest
        checks = [Check("download", a.name, Outcome.PASS,
                        f"{a.size} bytes, sha256 {a.sha256} as GitHub recorded it")
                  for a in release.assets]
        checks.append(Check("immutable", f"{repository}@{tag}",
                            Outcome.PASS if release.immutable else Outcome.FAIL,
                            "the release is immutable" if release.immutable else
                            "the release is not immutable: its assets can be replaced",
                            "immutable: true", None if release.immutable else "false"))
        fetched = _fetch_attestations(repository, release, checks)
        return _verify(args, checks, fetched=fetched, complete=True,
                       expect_release=release.immutable)


def _fetch_attestations(repository: str, release: DownloadedRelease, checks: list[Check]
                        ) -> tuple[Candidate, ...]:
    """Every asset's attestations and the release attestation, as GitHub lists them."""
    from release.github.attestations_api import fetch_for_release
    from release.verify.attestation_sources import from_api
    from release.verify.report import Check, Outcome

    try:
        found = fetch_for_release(repository, [a.sha256 for a in release.assets],
                                  release.commit)
    except ReleaseError as exc:  # a refused Link or redirect, GitHub's error: never a crash
        checks.append(Check("attestation", f"{repository} attestations API", Outcome.FAIL,
                            f"GitHub's attestations could not be read: {exc.message}"))
        return ()
    return from_api([*found.release, *(a for items in found.by_digest.values()
                                       for a in items)])


def _verify(args: argparse.Namespace, first: list[Check], *,
            fetched: tuple[Candidate, ...] = (), complete: bool = False,
            expect_release: bool = False) -> int:
    """Check the assets in ``args.directory``; ``first`` are checks already made."""
    from release.verify.github_instance import GitHubTrust
    from release.verify.options import VerifyOptions
    from release.verify.run import verify_release
    from release.verify.sigstore_bundles import Trust

    identity, commit = signer_options(args)
    check_attestation_options(args)
    opts = VerifyOptions(args.directory, identity, Trust(args.trusted_root, args.staging),
                         args.key, commit, args.require_provenance, tuple(args.ignore),
                         GitHubTrust(args.github_trusted_root), args.predicate_type,
                         args.deny_self_hosted_runners, fetched, complete, expect_release)
    report = verify_release(opts)
    report.checks[:0] = first
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render())
    return 0 if report.ok else 1
