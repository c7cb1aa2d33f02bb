"""Verify a release directory: checksums, signatures and their coverage, provenance.

The checks run in that order and each adds lines to a :class:`Report`; nothing
stops at the first failure, so one run shows everything that is wrong. Last, every
file in the folder that no verified checksum or signature covers gets an
``UNCOVERED`` line (:mod:`release.verify.coverage`), which fails the verification.
Only bad usage (no directory, no checksums file, an unreadable key or trust root, a
key or trust root from inside the folder) raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import UsageError
from release.verify import attestation_sources, checksums, statements
from release.verify.attestations import AttestationContext, verify_attestations
from release.verify.coverage import PROVENANCE_SUFFIX, Evidence, report_uncovered
from release.verify.folder import (
    METADATA_LIMIT,
    SMALL_LIMIT,
    FolderError,
    ReleaseFolder,
    inside,
)
from release.verify.github_instance import GitHubTrust
from release.verify.identity import ExpectedIdentity
from release.verify.keys import SIG_SUFFIX, PublicKey, pae
from release.verify.policy import SLSA_PROVENANCE_V1, AttestationPolicy
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES, Trust, Verdict

if TYPE_CHECKING:
    from sigstore.verify import Verifier

__all__ = ["PROVENANCE_SUFFIX", "VerifyOptions", "verify_release"]


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


@dataclass
class _Run:
    opts: VerifyOptions
    report: Report
    folder: ReleaseFolder
    names: list[str]
    key: PublicKey | None
    _verifier: Verifier | None = None
    signed: dict[str, bool] = field(default_factory=dict)
    #: Signature, bundle and statement files that served in a verification that succeeded.
    proofs: set[str] = field(default_factory=set)
    key_used: bool = False

    def read(self, name: str, limit: int, what: str, check: str) -> bytes | None:
        """A metadata file, bounded; an unreadable or too large one is a failed check."""
        try:
            return self.folder.read(name, limit, what)
        except FolderError as exc:
            self.report.failed(check, name, str(exc))
            return None

    def digest(self, name: str, check: str = "signature") -> str | None:
        try:
            return self.folder.digest(name)
        except FolderError as exc:
            self.report.failed(check, name, str(exc))
            return None

    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = self.opts.trust.verifier()
        return self._verifier

    def identity(self) -> ExpectedIdentity:
        if self.opts.identity is None:
            raise UsageError("the release has Sigstore bundles; say whose they must be",
                             "pass --repository OWNER/NAME and --tag TAG")
        return self.opts.identity


def verify_release(opts: VerifyOptions) -> Report:
    """Run every check on ``opts.directory`` and return the report (``report.ok``)."""
    directory = opts.directory
    folder = ReleaseFolder.scan(directory, opts.ignore)
    for flag, given in (("--key", opts.key), ("--trusted-root", opts.trust.trusted_root),
                        ("--github-trusted-root", opts.github_trust.trusted_root)):
        if given is not None and inside(given, directory):
            # whoever could plant or change the release's files could change this one too
            raise UsageError(f"{flag} {given} is inside the folder being verified",
                             "a key or trust root that comes with the release proves nothing; "
                             "pass one you obtained separately")
    names = folder.files()
    # checksums files name files relative to the folder: only its top level holds them
    sums = [n for n in names if "/" not in n and checksums.is_checksums_file(n)]
    provenance = [n for n in names if n.endswith(PROVENANCE_SUFFIX)]
    prov_bundles = {p: b for p in provenance if (b := _provenance_bundle(names, p))}
    att_bundles = attestation_sources.bundle_files(folder, names, set(prov_bundles.values()))
    downloads = [n for n in names if attestation_sources.is_download_file(n)]
    # a downloaded release (--github) is judged whatever it holds: its files get lines
    if not sums and not (att_bundles or downloads or opts.fetched or opts.complete):
        links = sorted(n for n, item in folder.items.items()
                       if "/" not in n and n not in names and checksums.is_checksums_file(n))
        raise UsageError(f"no checksums file in {directory}" + (
            f" ({', '.join(links)}: {folder.problem(links[0])}, not read)" if links else ""),
            "expected SHA256SUMS or SHA512SUMS (GNU format) beside the artifacts, as a "
            "regular file, or attestations (bundles, `gh attestation download` files, or "
            "--github to read them from GitHub)")
    run = _Run(opts, Report(str(directory)), folder, names,
               PublicKey.load(opts.key) if opts.key else None)
    for name, glob in sorted(folder.ignored.items()):
        run.report.skipped("ignored", name, f"matches --ignore {glob}: not read, not verified")
    entries: list[checksums.Entry] = []
    clean: set[str] = set()
    for name in sums:
        before = len(run.report.failures())
        entries += checksums.parse(folder, name, run.report)
        if len(run.report.failures()) == before:
            clean.add(name)
    artifacts = checksums.check_entries(folder, entries, run.report)
    _signatures(run, artifacts, set(prov_bundles.values()) | set(att_bundles))
    att = verify_attestations(_attestation_context(run), [
        *attestation_sources.from_files(folder, att_bundles, downloads, run.read),
        *opts.fetched])
    run.proofs |= att.proofs
    _coverage(run, entries, sums, set(att.attested))
    found = [st for p in provenance for st in _provenance(run, p, prov_bundles.get(p))]
    slsa = [st for st in found if st.is_provenance]
    for st in found:
        if not st.is_provenance:
            statements.check_attested(st, artifacts, run.report)
    if slsa:
        statements.check_subjects(slsa, artifacts, run.report)
    elif att.checked:
        pass  # each asset's attested provenance (or its absence) is reported above
    elif not provenance or (found and not slsa):
        if opts.require_provenance:
            run.report.failed("provenance", directory.name, "no SLSA provenance in the "
                              "directory", expected=f"<name>{PROVENANCE_SUFFIX} with its "
                              "signature", found="none")
        else:
            run.report.skipped("provenance", directory.name,
                               "no SLSA provenance: build provenance not checked")
    listed_in: dict[str, set[str]] = {}
    for entry in entries:
        listed_in.setdefault(entry.name, set()).add(entry.file)
    report_uncovered(run.report, folder, Evidence(
        artifacts, listed_in, run.signed, run.proofs, run.key, run.key_used, frozenset(clean),
        {**att.attested, **_attested(run, found, artifacts)}))
    if att.to_save:
        attestation_sources.save(directory, att.to_save, run.report)
    return run.report


def _attestation_context(run: _Run) -> AttestationContext:
    opts = run.opts
    policy = (AttestationPolicy(opts.identity, opts.predicate_type, opts.deny_self_hosted)
              if opts.identity else None)
    return AttestationContext(run.report, run.names, lambda n: run.digest(n, "attestation"),
                              run.verifier, opts.github_trust, policy,
                              opts.require_provenance, opts.complete, opts.expect_release,
                              frozenset(run.folder.ignored))


def _attested(run: _Run, found: list[statements.Statement], artifacts: dict[str, str]
              ) -> dict[str, str]:
    """Files a verified statement names, by their path, with their exact sha256."""
    files = set(run.names)
    attested: dict[str, str] = {}
    for st in found:
        for name, digest in st.subjects:
            if name in files and name not in attested:
                actual = artifacts.get(name) or run.digest(name)
                if actual == digest:
                    attested[name] = st.file
    return attested


def _provenance_bundle(names: list[str], statement: str) -> str | None:
    base = statement.removesuffix(".jsonl")
    for candidate in (f"{base}{s}" for s in BUNDLE_SUFFIXES):
        if candidate in names:
            return candidate
    for candidate in (f"{statement}{s}" for s in BUNDLE_SUFFIXES):
        if candidate in names:
            return candidate
    return None


def _signatures(run: _Run, artifacts: dict[str, str], skip: set[str]) -> None:
    """Verify every detached signature in the directory against the file it names."""
    for name in run.names:
        if name in skip:
            continue
        bundle_suffix = next((s for s in BUNDLE_SUFFIXES if name.endswith(s)), None)
        if bundle_suffix is None and not name.endswith(SIG_SUFFIX):
            continue
        target = name.removesuffix(bundle_suffix or SIG_SUFFIX)
        if bundle_suffix is None and run.key is None:
            run.report.skipped("signature", name, f"key signature over {target} not checked: "
                               "pass --key PUB.pem")
            continue
        if target not in run.names:
            problem = run.folder.problem(target)
            if target.endswith(".intoto"):
                run.report.failed("provenance", name, "a provenance bundle without its "
                                  "statement file", expected=f"{target}.jsonl",
                                  found="no such file")
            elif problem == "no such file":
                run.report.failed("signature", name, "signs a file that is not in the "
                                  "directory", expected=target, found="no such file")
            else:
                run.report.failed("signature", name, f"signs {target}, which is {problem}",
                                  expected="a regular file", found=str(problem))
            continue
        digest = artifacts.get(target) or run.digest(target)
        if digest is None:
            run.signed[target] = False
            continue
        if bundle_suffix is None:
            assert run.key is not None
            signature = run.read(name, SMALL_LIMIT, "a signature", "signature")
            ok = signature is not None and run.key.verify_digest(signature, digest)
            if signature is not None:
                _key_line(run, name, target, ok)
            _signed(run, name, target, ok)
            continue
        from release.verify.sigstore_bundles import verify_blob

        bundle = run.read(name, METADATA_LIMIT, "a Sigstore bundle", "signature")
        if bundle is None:
            _signed(run, name, target, False)
            continue
        identity = run.identity()
        verdict = verify_blob(run.verifier(), digest, bundle, identity)
        ok = _verdict_lines(run, name, f"over {target}", verdict)
        _signed(run, name, target, ok)


def _signed(run: _Run, signature: str, target: str, ok: bool) -> None:
    """Record one signature's verdict: ``target`` counts as signed only if all of its are."""
    run.signed[target] = run.signed.get(target, True) and ok
    if ok:
        run.proofs.add(signature)
        run.key_used = run.key_used or signature.endswith(SIG_SUFFIX)


def _key_line(run: _Run, name: str, target: str, ok: bool) -> None:
    assert run.key is not None
    if ok:
        run.report.passed("signature", name, f"valid ECDSA P-256 signature over {target} by "
                          f"key {run.key.fingerprint}")
    else:
        run.report.failed("signature", name, f"invalid signature over {target}",
                          expected=f"a signature by key {run.key.fingerprint}",
                          found="the signature does not verify")


def _verdict_lines(run: _Run, name: str, what: str, verdict: Verdict) -> bool:
    """Report a bundle's signature and identity; whether both are good."""
    trust = run.opts.trust.describe()
    if verdict.error is None:
        run.report.passed("signature", name, f"valid Sigstore signature {what} ({trust})")
    else:
        run.report.failed("signature", name, f"invalid Sigstore signature {what}",
                          expected=f"a valid signature under the {trust}", found=verdict.error)
    if verdict.mismatches is None:
        run.report.skipped("identity", name, "not checked: the certificate did not verify")
    elif verdict.mismatches:
        run.report.failed("identity", name, "signed by another identity: "
                          + ", ".join(m[0] for m in verdict.mismatches),
                          expected="; ".join(f"{w} {e}" for w, e, _ in verdict.mismatches),
                          found="; ".join(f"{w} {f}" for w, _, f in verdict.mismatches))
    else:
        run.report.passed("identity", name, f"signed by {run.identity().describe()}")
    return verdict.error is None and verdict.identity_ok


def _coverage(run: _Run, entries: list[checksums.Entry], sums: list[str],
              attested: set[str]) -> None:
    """Every listed file must be signed itself, attested, or listed in a signed checksums
    file."""
    if not run.signed and not entries:
        return  # nothing listed: the attestations (or their absence) tell the story
    if not run.signed and not attested:
        run.report.failed("signature", run.opts.directory.name, "no signature to verify",
                          expected="SHA256SUMS.sigstore.json, <file>.sigstore.json, or with "
                                   "--key <file>.sig", found="none")
        return
    covered = {n for n, ok in run.signed.items() if ok} | attested
    for name in sums:
        if run.signed.get(name):
            covered |= {e.name for e in entries if e.file == name}
    listed = sorted({e.name for e in entries})
    missing = [n for n in listed if n not in covered]
    for name in missing:
        run.report.failed("coverage", name, "no valid signature covers this file",
                          expected=f"{name}.sigstore.json, or a valid signature on the "
                                   "checksums file that lists it", found="none valid")
    if not missing:
        run.report.passed("coverage", f"{len(listed)} files",
                          "every listed file is covered by a valid signature")


def _provenance(run: _Run, name: str, bundle: str | None) -> list[statements.Statement]:
    """Verify one ``.intoto.jsonl`` and return the statements whose signature is good."""
    data = run.read(name, METADATA_LIMIT, "an in-toto statement file", "provenance")
    if data is None:
        return []
    entries = statements.read_jsonl(data.decode("utf-8", errors="replace"), name)
    if isinstance(entries, str):
        run.report.failed("provenance", name, "unreadable statement file", found=entries)
        return []
    signed: list[tuple[str, str | None, bytes, str | None]] = []
    if bundle is not None:
        from release.verify.sigstore_bundles import verify_dsse

        bundle_bytes = run.read(bundle, METADATA_LIMIT, "a Sigstore bundle", "signature")
        verdict = (verify_dsse(run.verifier(), bundle_bytes, run.identity())
                   if bundle_bytes is not None else None)
        if verdict is not None and _verdict_lines(run, bundle, f"over the statement in {name}",
                                                  verdict):
            assert verdict.payload is not None
            run.proofs.add(bundle)
            if not any(statements.same_statement(e, verdict.payload) for e in entries):
                run.report.failed("provenance", name, f"differs from the statement signed in "
                                  f"{bundle}", expected="the signed statement",
                                  found="another statement")
            elif len(entries) > 1:
                # other tools read every line; an unsigned extra line must not ride along
                run.report.failed("provenance", name, f"holds {len(entries)} statements; "
                                  f"{bundle} signs one", expected="1 line",
                                  found=f"{len(entries)} lines")
            else:
                run.proofs.add(name)
            signed.append((name, verdict.payload_type, verdict.payload,
                           (verdict.identity or {}).get("commit")))
    elif run.key is not None:
        for entry in entries:
            where = f"{name}:{entry.line}"
            if entry.payload_type is None:
                run.report.failed("signature", where, "an unsigned statement",
                                  expected="a DSSE envelope signed by the key",
                                  found="a bare statement")
                continue
            message = pae(entry.payload_type, entry.payload)
            ok = any(run.key.verify_bytes(sig, message) for _, sig in entry.signatures)
            _key_line(run, where, "the statement", ok)
            if ok:
                signed.append((where, entry.payload_type, entry.payload, None))
        if len(signed) == len(entries):  # every line of the file is signed by the key
            run.proofs.add(name)
            run.key_used = True
    else:
        run.report.failed("signature", name, "the provenance is not signed",
                          expected=f"{name.removesuffix('.jsonl')}.sigstore.json, or --key for "
                                   "a key-signed envelope", found="no signature")
    found = []
    commit = run.opts.commit or (run.opts.identity.commit if run.opts.identity else None)
    repository = run.opts.identity.repository if run.opts.identity else None
    for where, payload_type, payload, signer_commit in signed:
        st = statements.parse_statement(payload_type, payload, where, signer_commit)
        if isinstance(st, str):
            run.report.failed("provenance", where, "not a usable provenance statement",
                              found=st)
            continue
        run.report.passed("provenance", where, f"{st.predicate_type or 'untyped'} statement "
                          f"with {len(st.subjects)} subject(s)")
        if st.is_provenance:
            statements.check_source(st, commit, repository, run.report)
        found.append(st)
    return found
