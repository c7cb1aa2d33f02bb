"""``release verify --pypi NAME==VERSION``: a consumer's check of a release on an index.

Every file of the release is downloaded (streaming, hashed as it arrives) and must match
the sha256 the index states; its provenance (the integrity API) must name the expected
trusted publisher (``--repository``, ``--workflow``, optional ``--environment``) and each
attestation must verify with pypi-attestations' publisher policy against the Sigstore
trust root (``--trusted-root`` verifies offline). One line per check; exit 0 only if all
pass.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import ReleaseError, UsageError
from release.verify.report import Report

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.verify import Verifier

    from release.pypi.index import IndexFile
    from release.pypi.transport import IndexClient
    from release.pypi.urls import IndexUrls


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only ``--pypi`` uses (the identity options are ``verify``'s own)."""
    parser.add_argument("--pypi", metavar="NAME==VERSION",
                        help="verify a release on a Python package index: every file's "
                        "digest and its PEP 740 attestations against --repository and "
                        "--workflow")
    parser.add_argument("--index-url", metavar="URL",
                        default=os.environ.get("RELEASE_PYPI_INDEX_URL"),
                        help="with --pypi: the simple API root (default https://pypi.org/"
                        "simple/; env RELEASE_PYPI_INDEX_URL)")
    parser.add_argument("--environment", metavar="NAME",
                        help="with --pypi: the GitHub environment the publisher must name")


def _requirement(text: str) -> tuple[str, str]:
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    name, sep, version = text.partition("==")
    try:
        if not sep or not name.strip() or "=" in version:
            raise InvalidVersion(text)
        return str(canonicalize_name(name.strip())), str(Version(version.strip()))
    except InvalidVersion:
        raise UsageError(f"--pypi {text!r} is not NAME==VERSION",
                         "for example --pypi sampleproject==4.0.0") from None


def verify_pypi(args: argparse.Namespace) -> int:
    """Download, digest-check and attestation-check every file of the release."""
    from release.pypi.transport import IndexClient
    from release.pypi.urls import PYPI_SIMPLE, IndexUrls, check_url
    from release.verify.identity import ExpectedIdentity
    from release.verify.sigstore_bundles import Trust

    name, version = _requirement(args.pypi)
    if not args.repository:
        raise UsageError("--pypi needs --repository OWNER/NAME",
                         "the trusted publisher the release must come from")
    # reuse the repository and workflow checks of the identity options
    ident = ExpectedIdentity.parse(args.repository, "unused", args.workflow)
    index = args.index_url or PYPI_SIMPLE
    try:
        check_url(index, "--index-url")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.trusted_root is not None and args.staging:
        raise UsageError("--trusted-root and --staging both name a trust root")
    if args.trusted_root is not None and not args.trusted_root.is_file():
        raise UsageError(f"--trusted-root {args.trusted_root} is not a file")
    if args.directory is not None and (args.directory.is_symlink() or (
            args.directory.exists() and (not args.directory.is_dir()
                                         or any(args.directory.iterdir())))):
        raise UsageError(f"{args.directory} is not a new or empty directory",
                         "download into a new or empty directory (links are not followed)")
    urls = IndexUrls.resolve(index.removesuffix("simple/") + "legacy/", index)
    expected = {"kind": "GitHub", "repository": ident.repository, "workflow": ident.workflow,
                "environment": args.environment or ""}
    verifier = Trust(args.trusted_root, args.staging).verifier()
    report = Report(f"{name}=={version} at {index}")
    with tempfile.TemporaryDirectory(prefix="release-verify-pypi-") as tmp, \
            IndexClient() as client:
        dest = args.directory or Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        _check_release(client, urls, name, version, dest, expected, verifier, report)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render())
    return 0 if report.ok else 1


def _check_release(client: IndexClient, urls: IndexUrls, name: str, version: str, dest: Path,
                   expected: dict[str, str], verifier: Verifier, report: Report) -> None:
    from release.pypi.index import file_release, project_files, release_files

    try:
        files = release_files(project_files(client, urls, name), version)
    except ReleaseError as exc:
        report.failed("index", name, exc.message)
        return
    if not files:
        report.failed("index", f"{name}=={version}", "the index lists no file of this release")
        return
    for filename, file in sorted(files.items()):
        # another project's files on NAME's page are not NAME's release, attested or not
        project = file_release(filename)
        if project is None or project[0] != name:
            report.failed("index", filename, f"a file of project "
                          f"{project[0] if project else '?'!r}, not {name!r}")
            continue
        sha256 = _download(client, file, dest, report)
        if sha256 is not None:
            _check_provenance(client, urls, name, version, filename, sha256, expected,
                              verifier, report)


def _download(client: IndexClient, file: IndexFile, dest: Path, report: Report) -> str | None:
    from release.pypi.index import download

    if file.sha256 is None:
        report.failed("download", file.filename, "the index states no sha256 for the file")
        return None
    try:
        digest, size = download(client, file, dest / file.filename)
    except (ReleaseError, OSError, ValueError) as exc:
        report.failed("download", file.filename, getattr(exc, "message", str(exc)))
        return None
    if digest != file.sha256:
        report.failed("download", file.filename, "the file differs from the index's digest",
                      expected=f"sha256:{file.sha256}", found=f"sha256:{digest}")
        return None
    report.passed("download", file.filename, f"{size} bytes, sha256 {digest} as the index "
                  "states")
    return digest


def _check_provenance(client: IndexClient, urls: IndexUrls, name: str, version: str,
                      filename: str, sha256: str, expected: dict[str, str],
                      verifier: Verifier, report: Report) -> None:
    from pypi_attestations import GitHubPublisher

    from release.pypi.attestations import AttestationRejected, check
    from release.pypi.index import provenance
    from release.pypi.readback import publisher_mismatch

    try:
        prov = provenance(client, urls, name, version, filename)
    except ReleaseError as exc:
        report.failed("provenance", filename, exc.message)
        return
    if prov is None or not prov.attestation_bundles:
        report.failed("provenance", filename, "the index serves no PEP 740 provenance")
        return
    want = f"{expected['repository']} {expected['workflow']}"
    for bundle in prov.attestation_bundles:
        pub = bundle.publisher
        found = pub.model_dump()
        if problem := publisher_mismatch(found, expected):
            report.failed("publisher", filename, f"published by another publisher: {problem}",
                          expected=want, found=" ".join(str(found.get(k) or "-") for k in
                                                        ("kind", "repository", "workflow")))
            continue
        if expected["environment"] and found.get("environment") != expected["environment"]:
            report.failed("publisher", filename, "the publisher names another environment",
                          expected=expected["environment"],
                          found=str(found.get("environment") or "none"))
            continue
        assert isinstance(pub, GitHubPublisher)
        if not bundle.attestations:
            report.failed("attestation", filename, "the provenance holds no attestation")
        for att in bundle.attestations:
            try:
                predicate = check(att, filename, sha256, pub, verifier)
            except AttestationRejected as exc:
                report.failed("attestation", filename, exc.message)
                continue
            report.passed("attestation", filename, f"{predicate} signed by {want}, build "
                          f"config {_build_config_uri(att)}")


def _build_config_uri(att: Attestation) -> str:
    """The signing certificate's Build Config URI (the workflow file that signed, at its
    ref), or ``unknown``; for reports, after :func:`check` has verified ``att``."""
    from cryptography import x509

    from release.verify.policy import certificate_facts

    try:
        cert = x509.load_der_x509_certificate(att.verification_material.certificate)
    except ValueError:
        return "unknown"
    return certificate_facts(cert).get("build config") or "unknown"
