"""Verify a release directory: checksums, signatures and their coverage, provenance.

The checks run in that order and each adds lines to a :class:`Report`; nothing
stops at the first failure, so one run shows everything that is wrong. Only bad
usage (no directory, no checksums file, an unreadable key or trust root) raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from release.engine.digest import file_digest
from release.errors import UsageError
from release.verify import checksums, statements
from release.verify.identity import ExpectedIdentity
from release.verify.keys import SIG_SUFFIX, PublicKey, pae
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES, Trust, Verdict

if TYPE_CHECKING:
    from sigstore.verify import Verifier

PROVENANCE_SUFFIX = ".intoto.jsonl"


@dataclass(frozen=True)
class VerifyOptions:
    """What to verify and against what: a keyless identity, a public key, or both."""

    directory: Path
    identity: ExpectedIdentity | None = None
    trust: Trust = field(default_factory=Trust)
    key: Path | None = None
    commit: str | None = None
    require_provenance: bool = False


@dataclass
class _Run:
    opts: VerifyOptions
    report: Report
    names: list[str]
    key: PublicKey | None
    _verifier: Verifier | None = None
    signed: dict[str, bool] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.opts.directory / name

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
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory",
                         "download the release assets into a directory and pass its path")
    names = sorted(p.name for p in directory.iterdir() if p.is_file() and not p.is_symlink())
    sums = [n for n in names if checksums.is_checksums_file(n)]
    if not sums:
        raise UsageError(f"no checksums file in {directory}",
                         "expected SHA256SUMS or SHA512SUMS (GNU format) beside the artifacts")
    run = _Run(opts, Report(str(directory)), names,
               PublicKey.load(opts.key) if opts.key else None)
    entries = [e for s in sums for e in checksums.parse(directory / s, run.report)]
    artifacts = checksums.check_entries(directory, entries, run.report)
    listed = {e.name for e in entries}
    for name in names:
        if name not in listed and not _is_metadata(name):
            # shown, not failed: releases may carry extras, but nothing vouches for them
            run.report.skipped("unlisted", name, "in no checksums file: not verified")
    provenance = [n for n in names if n.endswith(PROVENANCE_SUFFIX)]
    prov_bundles = {p: b for p in provenance if (b := _provenance_bundle(names, p))}
    _signatures(run, artifacts, set(prov_bundles.values()))
    _coverage(run, entries, sums)
    found = [st for p in provenance for st in _provenance(run, p, prov_bundles.get(p))]
    slsa = [st for st in found if st.is_provenance]
    for st in found:
        if not st.is_provenance:
            statements.check_attested(st, artifacts, run.report)
    if slsa:
        statements.check_subjects(slsa, artifacts, run.report)
    elif not provenance or (found and not slsa):
        if opts.require_provenance:
            run.report.failed("provenance", directory.name, "no SLSA provenance in the "
                              "directory", expected=f"<name>{PROVENANCE_SUFFIX} with its "
                              "signature", found="none")
        else:
            run.report.skipped("provenance", directory.name,
                               "no SLSA provenance: build provenance not checked")
    return run.report


def _is_metadata(name: str) -> bool:
    """Files that vouch for others rather than being release content themselves."""
    return (checksums.is_checksums_file(name) or name.endswith(BUNDLE_SUFFIXES)
            or name.endswith((SIG_SUFFIX, PROVENANCE_SUFFIX, ".pub")))


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
            if target.endswith(".intoto"):
                run.report.failed("provenance", name, "a provenance bundle without its "
                                  "statement file", expected=f"{target}.jsonl",
                                  found="no such file")
            else:
                run.report.failed("signature", name, "signs a file that is not in the "
                                  "directory", expected=target, found="no such file")
            continue
        digest = artifacts.get(target) or file_digest(run.path(target))
        if bundle_suffix is None:
            assert run.key is not None
            ok = run.key.verify_digest(run.path(name).read_bytes(), digest)
            _key_line(run, name, target, ok)
            run.signed[target] = run.signed.get(target, True) and ok
            continue
        from release.verify.sigstore_bundles import verify_blob

        identity = run.identity()
        verdict = verify_blob(run.verifier(), digest, run.path(name).read_bytes(), identity)
        ok = _verdict_lines(run, name, f"over {target}", verdict)
        run.signed[target] = run.signed.get(target, True) and ok


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


def _coverage(run: _Run, entries: list[checksums.Entry], sums: list[str]) -> None:
    """Every listed file must be signed itself or listed in a signed checksums file."""
    if not run.signed:
        run.report.failed("signature", run.opts.directory.name, "no signature to verify",
                          expected="SHA256SUMS.sigstore.json, <file>.sigstore.json, or with "
                                   "--key <file>.sig", found="none")
        return
    covered = {n for n, ok in run.signed.items() if ok}
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
    text = run.path(name).read_text(encoding="utf-8", errors="replace")
    entries = statements.read_jsonl(text, name)
    if isinstance(entries, str):
        run.report.failed("provenance", name, "unreadable statement file", found=entries)
        return []
    signed: list[tuple[str, str | None, bytes, str | None]] = []
    if bundle is not None:
        from release.verify.sigstore_bundles import verify_dsse

        verdict = verify_dsse(run.verifier(), run.path(bundle).read_bytes(), run.identity())
        if _verdict_lines(run, bundle, f"over the statement in {name}", verdict):
            assert verdict.payload is not None
            if not any(statements.same_statement(e, verdict.payload) for e in entries):
                run.report.failed("provenance", name, f"differs from the statement signed in "
                                  f"{bundle}", expected="the signed statement",
                                  found="another statement")
            elif len(entries) > 1:
                # other tools read every line; an unsigned extra line must not ride along
                run.report.failed("provenance", name, f"holds {len(entries)} statements; "
                                  f"{bundle} signs one", expected="1 line",
                                  found=f"{len(entries)} lines")
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
