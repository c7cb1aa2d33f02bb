"""What the index holds, before and after an upload, compared with what we built.

Before: a file of ours already there is a no-op when identical (``skip-existing``) and a
failure otherwise; another file of the same version means the version exists with files
we did not build, which is a failure too. After: every file must be listed with our
sha256 (hashed from a download when the index states none), and with attestations its
provenance must name our publisher and verify.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from release.errors import IntegrityError, StageFailed
from release.pypi.index import IndexFile, project_files, provenance, release_files, remote_digest

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig

    from release.pypi.distmeta import DistFile
    from release.pypi.transport import IndexClient
    from release.pypi.urls import IndexUrls


def _digest(client: IndexClient, file: IndexFile) -> str:
    return file.sha256 or remote_digest(client, file)


def existing_files(client: IndexClient, urls: IndexUrls, dists: list[DistFile], name: str,
                   version: str, *, skip_existing: bool, log: Callable[[str], None]) -> set[str]:
    """Names of our files the index already holds, identical; anything else there fails."""
    listed = release_files(project_files(client, urls, name), version)
    ours = {d.filename: d for d in dists}
    foreign = sorted(set(listed) - set(ours))
    if foreign:
        raise StageFailed(f"{name} {version} already exists on the index with other files: "
                          f"{', '.join(foreign)}", "a version's files cannot be replaced: "
                          "release a new version")
    same: set[str] = set()
    for filename, file in sorted(listed.items()):
        dist = ours[filename]
        digest = _digest(client, file)
        if digest != dist.sha256:
            raise IntegrityError(
                f"{filename} is already on the index with different content: index sha256 "
                f"{digest}, ours {dist.sha256}; nothing was uploaded or overwritten",
                "a file name can be used once; release a new version")
        if not skip_existing:
            raise StageFailed(f"{filename} is already on the index (identical, sha256 "
                              f"{digest})", "set `skip-existing: true` to make re-runs "
                              "no-ops for identical files")
        log(f"{filename}: already on the index with our sha256; skipped")
        same.add(filename)
    return same


def check_uploaded(client: IndexClient, urls: IndexUrls, dists: list[DistFile], name: str,
                   log: Callable[[str], None]) -> None:
    """Every file is served with our sha256."""
    listed = project_files(client, urls, name)
    for dist in dists:
        file = listed.get(dist.filename)
        if file is None:
            raise StageFailed(f"{dist.filename} was uploaded but the index does not list it "
                              f"at {urls.project_page(name)}",
                              "the index may be slow to update; check it, then re-run with "
                              "skip-existing: true")
        digest = _digest(client, file)
        if digest != dist.sha256:
            raise IntegrityError(f"{dist.filename}: the index serves sha256 {digest}, we "
                                 f"uploaded {dist.sha256}", "do not use this release; "
                                 "report it to the index's administrators")
        log(f"verified {dist.filename}: the index serves sha256:{digest}")


def check_provenance(client: IndexClient, urls: IndexUrls, name: str, version: str,
                     dists: list[DistFile], expected: dict[str, str], trust: ClientTrustConfig,
                     log: Callable[[str], None]) -> None:
    """Each file's provenance names our publisher, and each attestation verifies."""
    from pypi_attestations import GitHubPublisher
    from sigstore.verify import Verifier

    from release.pypi.attestations import AttestationRejected, check

    verifier = Verifier(trusted_root=trust.trusted_root)
    for dist in dists:
        prov = provenance(client, urls, name, version, dist.filename)
        if prov is None or not prov.attestation_bundles:
            raise StageFailed(f"{dist.filename}: the index keeps no provenance for it although "
                              "attestations were uploaded", "check the index's integrity API")
        for bundle in prov.attestation_bundles:
            pub = bundle.publisher
            if problem := publisher_mismatch(pub.model_dump(), expected):
                raise IntegrityError(f"{dist.filename}: the index records publisher {problem}",
                                     "the upload was not made by this pipeline's publisher")
            assert isinstance(pub, GitHubPublisher)
            for att in bundle.attestations:
                try:
                    check(att, dist.filename, dist.sha256, pub, verifier)
                except AttestationRejected as exc:
                    raise IntegrityError(f"{dist.filename}: an attestation the index serves "
                                         f"does not verify: {exc.message}") from None
        count = sum(len(b.attestations) for b in prov.attestation_bundles)
        log(f"verified the provenance of {dist.filename}: {count} attestation(s) by "
            f"{expected['repository']} {expected['workflow']}")


def publisher_mismatch(found: dict[str, object], expected: dict[str, str]) -> str | None:
    """Why a provenance's publisher is not ``expected`` (None when it is)."""
    kind = found.get("kind")
    if kind != "GitHub":
        return f"of kind {kind!r}, expected GitHub"
    # GitHub repository names are case-insensitive; git file names (the workflow) are not
    for key, fold in (("repository", True), ("workflow", False)):
        have, want = str(found.get(key) or ""), expected.get(key, "")
        if (have.lower() != want.lower()) if fold else (have != want):
            return f"{key} {have!r}, expected {want!r}"
    env, want_env = found.get("environment"), expected.get("environment")
    if env and want_env and str(env) != want_env:
        return f"environment {env!r}, expected {want_env!r}"
    return None
