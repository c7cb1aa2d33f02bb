"""Detached signatures and this tool's statement files, beside the files they cover.

``F.sigstore.json`` (or ``F.sigstore``) and, with ``--key``, ``F.sig`` sign the file
``F``; ``NAME.intoto.jsonl`` holds provenance statements, signed by its bundle
``NAME.intoto.sigstore.json`` or, with ``--key``, by its DSSE envelopes. Each verdict is
recorded on the :class:`Run` (which files are signed, which signature and statement
files served in a verification that succeeded), from which coverage is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from release.errors import UsageError
from release.signing.dsse import PAE_PREFIX, pae
from release.verify import statements
from release.verify.folder import METADATA_LIMIT, SMALL_LIMIT, FolderError, ReleaseFolder
from release.verify.identity import ExpectedIdentity
from release.verify.keys import SIG_SUFFIX, PublicKey
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES, Verdict

if TYPE_CHECKING:
    from sigstore.verify import Verifier

    from release.verify.options import VerifyOptions


@dataclass
class Run:
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


def signatures(run: Run, artifacts: dict[str, str], skip: set[str]) -> None:
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
            if _dsse_shaped(run, target):
                run.report.failed("signature", name, f"{target} is shaped like a DSSE signing "
                                  "input: a key signature over it could be a forged statement's",
                                  expected="an artifact", found=f"a file starting {PAE_PREFIX!r}")
                _signed(run, name, target, False)
                continue
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


def _dsse_shaped(run: Run, name: str) -> bool:
    """Whether the file starts as every DSSE signing input does (see ``PAE_PREFIX``)."""
    try:
        with run.folder.open(name) as f:
            return f.read(len(PAE_PREFIX)) == PAE_PREFIX
    except (FolderError, OSError):
        return False


def _signed(run: Run, signature: str, target: str, ok: bool) -> None:
    """Record one signature's verdict: ``target`` counts as signed only if all of its are."""
    run.signed[target] = run.signed.get(target, True) and ok
    if ok:
        run.proofs.add(signature)
        run.key_used = run.key_used or signature.endswith(SIG_SUFFIX)


def _key_line(run: Run, name: str, target: str, ok: bool) -> None:
    assert run.key is not None
    if ok:
        run.report.passed("signature", name, f"valid ECDSA P-256 signature over {target} by "
                          f"key {run.key.fingerprint}")
    else:
        run.report.failed("signature", name, f"invalid signature over {target}",
                          expected=f"a signature by key {run.key.fingerprint}",
                          found="the signature does not verify")


def _verdict_lines(run: Run, name: str, what: str, verdict: Verdict) -> bool:
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


def provenance_file(run: Run, name: str, bundle: str | None) -> list[statements.Statement]:
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
