"""GitHub's release attestation: what an immutable release held when it was published.

When a release is published as immutable, GitHub signs an in-toto statement
(https://github.com/in-toto/attestation/blob/main/spec/predicates/release.md; GitHub
writes ``https://in-toto.io/attestation/release/v0.2``, earlier ``v0.1``) on its own
Sigstore instance, with the certificate SAN ``https://dotcom.releases.github.com``:
its subjects are the tag's commit (``uri`` the release's purl, digest ``sha1``) and each
asset (``name``, ``sha256``); its predicate names the ``repository``, the ``tag`` and
the ``purl`` ``pkg:github/OWNER/NAME@TAG``. ``gh release verify`` looks it up by the
commit's digest and ``gh release verify-asset`` checks an asset against it.

Checked here, after the signature (:mod:`release.verify.github_instance`): the
repository, tag and purl; the commit, when one is expected; and that every asset is a
subject by sha256 (an asset added after publication, or swapped, is not). A subject no
file matches is a failure when the whole release was downloaded (``--github``), and
only noted in a folder, which may hold part of a release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from release.provenance.slsa import PAYLOAD_TYPE
from release.untrusted_json import loads_json
from release.verify.report import Report
from release.verify.statements import STATEMENT_TYPES

RELEASE_PREDICATE = "https://in-toto.io/attestation/release/"
#: The SAN of GitHub's release attestations on github.com (GHE.com uses another host).
RELEASE_SAN = "https://dotcom.releases.github.com"
_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def is_release(predicate_type: str) -> bool:
    return predicate_type.startswith(RELEASE_PREDICATE)


@dataclass(frozen=True)
class ReleaseClaim:
    """What one verified release attestation says."""

    origin: str
    repository: str
    tag: str
    purl: str
    commit: str | None
    #: ``(name, sha256)`` of each asset subject.
    assets: tuple[tuple[str, str], ...]


def parse_release(payload_type: str | None, payload: bytes, origin: str
                  ) -> ReleaseClaim | str:
    """The claim of a verified payload, or what is malformed in it."""
    if payload_type != PAYLOAD_TYPE:
        return f"payload type is {payload_type!r}, expected {PAYLOAD_TYPE!r}"
    try:
        data = loads_json(payload)
    except ValueError as exc:
        return f"the payload is not JSON ({exc})"
    if not isinstance(data, dict) or data.get("_type") not in STATEMENT_TYPES:
        return "not an in-toto statement"
    if not is_release(str(data.get("predicateType", ""))):
        return f"predicate type {data.get('predicateType')!r} is not a release's"
    predicate = data.get("predicate")
    if not isinstance(predicate, dict):
        return "the statement has no predicate object"
    fields = {k: predicate.get(k) for k in ("repository", "tag", "purl")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        return "the predicate lacks repository, tag or purl"
    commit, assets = None, []
    for item in data.get("subject") or []:
        digest = item.get("digest") if isinstance(item, dict) else None
        if not isinstance(digest, dict):
            continue
        if item.get("uri") == fields["purl"]:
            found = digest.get("sha1") or digest.get("sha256") or digest.get("gitCommit")
            if isinstance(found, str) and _HEX.match(found.lower()):
                commit = found.lower()
        elif isinstance(item.get("name"), str) and isinstance(digest.get("sha256"), str):
            assets.append((item["name"], digest["sha256"].lower()))
    return ReleaseClaim(origin, str(fields["repository"]), str(fields["tag"]),
                        str(fields["purl"]), commit, tuple(assets))


def check_release(claim: ReleaseClaim, *, repository: str, tag: str, commit: str | None,
                  files: dict[str, str], required: set[str], complete: bool, report: Report,
                  ignored: frozenset[str] = frozenset()) -> bool:
    """Report the claim against the release; whether nothing failed.

    ``files`` are the folder's files (name -> sha256); each of ``required`` must be an
    asset subject (in a folder, the release's own files: signatures and attestations a
    consumer saved beside them need not be; from ``--github``, every downloaded asset).
    """
    ok = True
    purl = f"pkg:github/{repository}@{tag}"
    found = {"repository": claim.repository, "tag": claim.tag, "purl": unquote(claim.purl)}
    wanted = {"repository": repository, "tag": tag, "purl": purl}
    wrong = [k for k in wanted if (found[k].lower() != wanted[k].lower() if k != "tag"
                                   else found[k] != wanted[k])]
    if wrong:
        ok = False
        report.failed("release", claim.origin, "the release attestation is about another "
                      "release: " + ", ".join(wrong),
                      expected="; ".join(f"{k} {wanted[k]}" for k in wrong),
                      found="; ".join(f"{k} {found[k]}" for k in wrong))
    if claim.commit is None:
        ok = False
        report.failed("release", claim.origin, "names no commit for the tag",
                      expected=f"a subject {claim.purl} with its commit", found="none")
    elif commit is not None and claim.commit != commit:
        ok = False
        report.failed("release", claim.origin, "the tag pointed at another commit when the "
                      "release was published", expected=commit, found=claim.commit)
    elif commit is None:
        report.skipped("release", claim.origin, f"the tag's commit {claim.commit} is not "
                       "checked: pass --commit")
    attested = {sha for _, sha in claim.assets}
    for name, sha in sorted(files.items()):
        if name in required and sha not in attested:
            ok = False
            report.failed("release", name, "not among the release attestation's assets: "
                          "the release did not hold this file when it was published",
                          expected=f"an asset subject with sha256 {sha}",
                          found=f"{len(claim.assets)} asset subjects, none with this digest")
    present = set(files.values())
    for name, sha in claim.assets:
        if sha in present:
            continue
        if name in ignored:
            report.skipped("release", name, "an asset of the release, left out by --ignore")
        elif complete:
            ok = False
            report.failed("release", name, "the release held this asset when it was "
                          "published, and it was not downloaded",
                          expected=f"{name} with sha256 {sha}", found="no such asset")
        else:
            report.skipped("release", name, f"an asset of the release (sha256 {sha[:16]}...) "
                           "that is not in this folder")
    if ok:
        matched = sum(1 for sha in files.values() if sha in attested)
        report.passed("release", claim.origin, f"{claim.repository}@{claim.tag} at "
                      f"{claim.commit}: {matched} file(s) here are its assets, by sha256")
    return ok
