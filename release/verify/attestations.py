"""Verifying artifact attestations, wherever they were found, and matching them to files.

Each candidate (:mod:`release.verify.attestation_sources`) is a Sigstore bundle with a
DSSE in-toto statement. Its predicate type routes it: GitHub's release attestation is
verified against GitHub's own Sigstore instance (:mod:`release.verify.github_instance`,
:mod:`release.verify.release_attestation`), everything else against the public-good
instance (or ``--trusted-root``) with the attestation policy (:mod:`release.verify.
policy`). The routing reads the unverified payload, but each route verifies the whole
bundle against its own root, so a statement that claims the other kind simply fails.

A verified statement is matched to the folder's files by the sha256 of its subjects,
never by name alone: a subject whose name is a file here but whose digest is not that
file's is a failure (the file changed after it was attested), and a statement that
matches no file is one too (it is about something else). Statements of the expected
predicate type (``--predicate-type``) are the files' provenance; with
``--require-provenance`` every asset needs one. A bundle file counts as covered only
when its attestation verified, met the policy and matched a file; a download file only
when every line did.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from release.errors import UsageError
from release.untrusted_json import loads_json
from release.verify import github_instance, statements
from release.verify.attestation_sources import Candidate, is_download_file
from release.verify.checksums import is_checksums_file
from release.verify.coverage import PROVENANCE_SUFFIX
from release.verify.github_instance import GitHubTrust
from release.verify.keys import SIG_SUFFIX
from release.verify.policy import AttestationPolicy
from release.verify.release_attestation import (
    RELEASE_SAN,
    ReleaseClaim,
    check_release,
    is_release,
    parse_release,
)
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES, verify_dsse

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier


@dataclass
class AttestationContext:
    """What verifying attestations needs from the run."""

    report: Report
    names: list[str]
    #: sha256 of a folder file (None when unreadable: the reader reported it).
    digest: Callable[[str], str | None]
    verifier: Callable[[], Verifier]
    github: GitHubTrust
    policy: AttestationPolicy | None
    require_provenance: bool = False
    #: The whole release is in the folder (``--github``): a missing asset is a failure.
    complete: bool = False
    #: GitHub must have made a release attestation (``--github`` on an immutable release).
    expect_release: bool = False
    #: Files ``--ignore`` left out: never "missing" from the release.
    ignored: frozenset[str] = frozenset()
    _root: TrustedRoot | str | None = None
    _digests: dict[str, str | None] = field(default_factory=dict)

    def github_root(self) -> TrustedRoot | str:
        if self._root is None:
            self._root = self.github.load()
        return self._root

    def sha256(self, name: str) -> str | None:
        if name not in self._digests:
            self._digests[name] = self.digest(name)
        return self._digests[name]


@dataclass
class AttestationResult:
    #: File -> the first verified statement naming its sha256.
    attested: dict[str, str] = field(default_factory=dict)
    #: Bundle and download files wholly verified and used.
    proofs: set[str] = field(default_factory=set)
    #: File -> origins of verified provenance of the expected predicate type.
    provenance: dict[str, list[str]] = field(default_factory=dict)
    #: Name of a file to write -> bundles (``--github``: what the API gave and was used).
    to_save: dict[str, list[bytes]] = field(default_factory=dict)
    #: Whether there was any attestation to check (each asset then has its own line).
    checked: bool = False


def assets(names: list[str]) -> list[str]:
    """The files of a release that are not signatures, checksums or attestations."""
    return [n for n in names if not (
        n.endswith((*BUNDLE_SUFFIXES, SIG_SUFFIX, PROVENANCE_SUFFIX)) or is_download_file(n)
        or is_checksums_file(n.rsplit("/", 1)[-1]))]


def verify_attestations(ctx: AttestationContext, candidates: list[Candidate]
                        ) -> AttestationResult:
    """Verify every candidate, report each, and say which files they cover."""
    result = AttestationResult()
    if not candidates:
        if ctx.expect_release:
            _no_release(ctx)
        return result
    if ctx.policy is None:
        raise UsageError("the release has attestations; say whose they must be",
                         "pass --repository OWNER/NAME and --tag TAG")
    result.checked = True
    counts = {s: sum(c.source == s for c in candidates) for s in ("asset", "api", "download")}
    ctx.report.passed("found", f"{len(candidates)} attestation(s)",
                      f"{counts['asset']} in release assets, {counts['api']} from the GitHub "
                      f"API, {counts['download']} in download files")
    good: dict[str, bool] = {}  # file -> every candidate from it verified and was used
    releases: dict[bytes, bool] = {}
    for cand in candidates:
        ok = _one(ctx, cand, result, releases)
        if cand.file is not None:
            good[cand.file] = good.get(cand.file, True) and ok
    result.proofs = {f for f, ok in good.items() if ok}
    if ctx.expect_release and not releases:  # (one that failed its checks said why)
        _no_release(ctx)
    if sum(releases.values()) > 1:
        ctx.report.failed("release", ctx.policy.identity.tag, "more than one release "
                          "attestation for this tag", expected="1", found=str(len(releases)))
    for name in assets(ctx.names):
        origins = result.provenance.get(name)
        if origins:
            ctx.report.passed("provenance", name, f"{ctx.policy.predicate_type} by "
                              f"{ctx.policy.workflow_uri} in {', '.join(sorted(set(origins)))}")
        elif ctx.require_provenance:
            ctx.report.failed("provenance", name, "no verified attestation of this file's "
                              "sha256 meets the policy", expected=f"a {ctx.policy.predicate_type}"
                              f" attestation by {ctx.policy.describe()}", found="none")
        else:
            ctx.report.skipped("provenance", name, "no provenance attestation names this file")
    return result


def _no_release(ctx: AttestationContext) -> None:
    root = ctx.github_root()
    tag = ctx.policy.identity.tag if ctx.policy else "the release"
    if isinstance(root, str):
        ctx.report.skipped("release", tag, f"GitHub's release attestation not checked: {root}; "
                           "pass --github-trusted-root FILE")
    else:
        ctx.report.failed("release", tag, "GitHub has no valid release attestation for this "
                          "immutable release", expected="a release attestation signed by "
                          "GitHub", found="none")


def _one(ctx: AttestationContext, cand: Candidate, result: AttestationResult,
         releases: dict[bytes, bool]) -> bool:
    """Verify one candidate and record what it covers; whether it verified and was used."""
    report = ctx.report
    if cand.bundle is None:
        if cand.problem:  # (an unreadable file was reported when it was read)
            report.failed("attestation", cand.origin, f"not verified: {cand.problem}")
        return False
    predicate_type = _peek(cand.bundle)
    if predicate_type is None:
        report.failed("attestation", cand.origin, "not a Sigstore bundle of a DSSE in-toto "
                      "statement", expected="a bundle with a dsseEnvelope", found="another shape")
        return False
    if is_release(predicate_type):
        return _release(ctx, cand, result, releases)
    assert ctx.policy is not None
    before = len(report.failures())
    verdict = verify_dsse(ctx.verifier(), cand.bundle, ctx.policy)
    if verdict.error is not None:
        report.failed("signature", cand.origin, "invalid Sigstore signature on the attestation",
                      expected="a valid signature under the trusted root", found=verdict.error)
    if verdict.mismatches:
        report.failed("identity", cand.origin, "signed by another workflow run: " + ", ".join(
            m[0] for m in verdict.mismatches),
            expected="; ".join(f"{w} {e}" for w, e, _ in verdict.mismatches),
            found="; ".join(f"{w} {f}" for w, _, f in verdict.mismatches))
    if verdict.error is not None or not verdict.identity_ok or verdict.payload is None:
        return False
    report.passed("signature", cand.origin, f"valid attestation signed by "
                  f"{ctx.policy.describe()}")
    st = statements.parse_statement(verdict.payload_type, verdict.payload, cand.origin,
                                    (verdict.identity or {}).get("commit"))
    if isinstance(st, str):
        report.failed("attestation", cand.origin, "not a usable in-toto statement", found=st)
        return False
    for what, want, have in ctx.policy.workflow_problems(loads_json(verdict.payload)):
        report.failed("workflow", cand.origin, f"the provenance names another workflow: {what}",
                      expected=want, found=have)
    provenance = st.predicate_type == ctx.policy.predicate_type
    if st.is_provenance or provenance:
        statements.check_source(st, ctx.policy.identity.commit,
                                ctx.policy.identity.repository, report)
    matched = statements.matched_files(st, ctx.names, ctx.sha256, ctx.report)
    if len(report.failures()) > before or not matched:
        return False
    for name in matched:
        result.attested.setdefault(name, cand.origin)
        if provenance:
            result.provenance.setdefault(name, []).append(cand.origin)
        elif not st.is_provenance:
            report.passed("attests", cand.origin, f"{st.predicate_type} about {name}")
    if not provenance:
        report.skipped("predicate", cand.origin, f"{st.predicate_type or 'untyped'}, not "
                       f"{ctx.policy.predicate_type}: not counted as provenance")
    if cand.source == "api":
        for name in matched:
            sha = ctx.sha256(name)
            result.to_save.setdefault(f"sha256:{sha}.jsonl", []).append(cand.bundle)
    return True


def _release(ctx: AttestationContext, cand: Candidate, result: AttestationResult,
             releases: dict[bytes, bool]) -> bool:
    """GitHub's release attestation: GitHub's instance, GitHub's SAN, the release's facts."""
    assert ctx.policy is not None and cand.bundle is not None
    report, root = ctx.report, ctx.github_root()
    if isinstance(root, str):
        report.skipped("release", cand.origin, f"GitHub's release attestation not checked: "
                       f"{root}; pass --github-trusted-root FILE")
        return False
    verdict = github_instance.verify_dsse(root, cand.bundle)
    if verdict.error is not None or verdict.payload is None:
        report.failed("signature", cand.origin, "invalid release attestation",
                      expected=f"a valid signature by {ctx.github.describe()}",
                      found=verdict.error or "no payload")
        return False
    from release.verify.identity import certificate_identity

    sans = certificate_identity(verdict.cert).get("sans", "") if verdict.cert else ""
    if RELEASE_SAN not in sans.split(" "):
        report.failed("identity", cand.origin, "not signed by GitHub's release service",
                      expected=f"SAN {RELEASE_SAN}", found=sans or "none")
        return False
    if verdict.payload in releases:  # the same attestation, listed again (per asset)
        ok = releases[verdict.payload]
    else:
        report.passed("signature", cand.origin, f"valid release attestation by "
                      f"{ctx.github.describe()}, timestamped {verdict.signed_at}")
        claim = parse_release(verdict.payload_type, verdict.payload, cand.origin)
        if isinstance(claim, str):
            report.failed("release", cand.origin, "not a usable release attestation",
                          found=claim)
            ok = False
        else:
            ok = _check_claim(ctx, claim, result, cand)
        releases[verdict.payload] = ok
    return ok


def _check_claim(ctx: AttestationContext, claim: ReleaseClaim, result: AttestationResult,
                 cand: Candidate) -> bool:
    assert ctx.policy is not None and cand.bundle is not None
    ident = ctx.policy.identity
    files = {n: sha for n in ctx.names if not is_download_file(n)
             if (sha := ctx.sha256(n)) is not None}
    required = set(files) if ctx.complete else set(assets(list(files)))
    ok = check_release(claim, repository=ident.repository, tag=ident.tag, commit=ident.commit,
                       files=files, required=required, complete=ctx.complete,
                       report=ctx.report, ignored=ctx.ignored)
    if ok:
        attested = {sha for _, sha in claim.assets}
        for name, sha in files.items():
            if sha in attested:
                result.attested.setdefault(name, cand.origin)
        if cand.source == "api" and claim.commit:
            algorithm = "sha256" if len(claim.commit) == 64 else "sha1"
            result.to_save.setdefault(f"{algorithm}:{claim.commit}.jsonl",
                                      []).append(cand.bundle)
    return ok


def _peek(bundle: bytes) -> str | None:
    """The predicate type an (unverified) DSSE bundle claims, only to route it."""
    try:
        data: Any = loads_json(bundle)
        payload = base64.b64decode(data["dsseEnvelope"]["payload"])
        statement = loads_json(payload)
        return str(statement.get("predicateType", "")) if isinstance(statement, dict) else ""
    except (ValueError, KeyError, TypeError):
        return None
