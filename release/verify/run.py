"""Verify a release directory: checksums, signatures and their coverage, provenance.

The checks run in that order (detached signatures and this tool's statement files in
:mod:`release.verify.detached`, attestations in :mod:`release.verify.attestations`) and
each adds lines to a :class:`Report`; nothing stops at the first failure, so one run
shows everything that is wrong. Last, every
file in the folder that no verified checksum or signature covers gets an
``UNCOVERED`` line (:mod:`release.verify.coverage`), which fails the verification.
Only bad usage (no directory, no checksums file, an unreadable key or trust root, a
key or trust root from inside the folder) raises.
"""

from __future__ import annotations

from dataclasses import replace

from release.errors import UsageError
from release.verify import attestation_sources, checksums, statements
from release.verify.attestations import AttestationContext, verify_attestations
from release.verify.coverage import PROVENANCE_SUFFIX, Evidence, report_uncovered
from release.verify.detached import Run, provenance_file, signatures
from release.verify.folder import ReleaseFolder, inside
from release.verify.keys import PublicKey
from release.verify.options import VerifyOptions
from release.verify.policy import AttestationPolicy
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES

__all__ = ["PROVENANCE_SUFFIX", "VerifyOptions", "verify_release"]


def verify_release(opts: VerifyOptions) -> Report:
    """Run every check on ``opts.directory`` and return the report (``report.ok``)."""
    if opts.identity and opts.deny_self_hosted and not opts.identity.deny_self_hosted:
        # every Sigstore signature the run checks obeys it: checksums, files, attestations
        opts = replace(opts, identity=replace(opts.identity, deny_self_hosted=True))
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
    run = Run(opts, Report(str(directory)), folder, names,
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
    signatures(run, artifacts, set(prov_bundles.values()) | set(att_bundles))
    att = verify_attestations(_attestation_context(run), [
        *attestation_sources.from_files(folder, att_bundles, downloads, run.read),
        *opts.fetched])
    run.proofs |= att.proofs
    _coverage(run, entries, sums, set(att.attested))
    found = [st for p in provenance for st in provenance_file(run, p, prov_bundles.get(p))]
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


def _attestation_context(run: Run) -> AttestationContext:
    opts = run.opts
    policy = (AttestationPolicy(opts.identity, opts.predicate_type, opts.deny_self_hosted)
              if opts.identity else None)
    return AttestationContext(run.report, run.names, lambda n: run.digest(n, "attestation"),
                              run.verifier, opts.github_trust, policy,
                              opts.require_provenance, opts.complete, opts.expect_release,
                              frozenset(run.folder.ignored))


def _attested(run: Run, found: list[statements.Statement], artifacts: dict[str, str]
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


def _coverage(run: Run, entries: list[checksums.Entry], sums: list[str],
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
