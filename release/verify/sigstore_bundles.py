"""Sigstore bundle verification with the identity judged separately from the signature.

sigstore-python checks the certificate policy in the middle of verification
(after the chain, before the log entry and the signature). We run the expected
identity's policy inside a recorder, so a report can say both "the signature is
valid" and "but it was made by X, not Y" instead of one opaque failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from release.errors import ReleaseError, UsageError
from release.verify.identity import ExpectedIdentity, certificate_identity

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

#: Suffixes of a Sigstore bundle beside the file it signs (``.sigstore``: bundles v0.1/0.2).
BUNDLE_SUFFIXES = (".sigstore.json", ".sigstore")


class SignerPolicy(Protocol):
    """Who must have signed: :class:`ExpectedIdentity`, or an attestation's policy."""

    def policy(self) -> VerificationPolicy: ...

    def mismatches(self, cert: Certificate) -> list[tuple[str, str, str]]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Trust:
    """Which Sigstore instance's trust root to verify against."""

    trusted_root: Path | None = None
    staging: bool = False

    def describe(self) -> str:
        if self.trusted_root:
            return f"trusted root {self.trusted_root.name}"
        return "Sigstore staging" if self.staging else "Sigstore public-good (production)"

    def verifier(self) -> Verifier:
        """Load the trust root; an unreadable file or an unreachable TUF repository is fatal."""
        from sigstore.verify import Verifier

        if self.trusted_root is not None:
            from sigstore.models import TrustedRoot

            try:
                return Verifier(trusted_root=TrustedRoot.from_file(str(self.trusted_root)))
            except Exception as exc:  # sigstore raises several kinds for a bad root file
                raise UsageError(f"cannot load trusted root {self.trusted_root}: {exc}",
                                 "pass a Sigstore trusted_root.json (TrustedRoot v0.1)") from exc
        try:
            return Verifier.staging() if self.staging else Verifier.production()
        except Exception as exc:  # network or TUF errors
            raise ReleaseError(f"cannot fetch the {self.describe()} trust root: {exc}",
                               "verify offline with --trusted-root FILE") from exc


@dataclass
class Verdict:
    """What verifying one bundle found; ``error`` is None when the signature is valid."""

    error: str | None
    #: Identity facts of the signing certificate, when the chain was verified.
    identity: dict[str, str] | None = None
    #: ``(what, expected, found)`` mismatches of the identity; empty when it matched.
    mismatches: list[tuple[str, str, str]] | None = None
    payload_type: str | None = None
    payload: bytes | None = None
    #: The signing certificate, when its chain was verified.
    cert: Certificate | None = None

    @property
    def identity_ok(self) -> bool:
        return self.mismatches is not None and not self.mismatches


class _Recorder:
    """A policy that records the expected identity's verdict instead of stopping."""

    def __init__(self, expected: SignerPolicy) -> None:
        self.expected = expected
        self.inner: VerificationPolicy = expected.policy()
        self.cert: Certificate | None = None
        self.failure: str | None = None

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        self.cert = cert
        try:
            self.inner.verify(cert)
        except VerificationError as exc:
            self.failure = str(exc)

    def fill(self, verdict: Verdict) -> Verdict:
        if self.cert is not None:
            verdict.cert = self.cert
            verdict.identity = certificate_identity(self.cert)
            verdict.mismatches = []
            if self.failure is not None:
                # sigstore's policy is authoritative; our breakdown only explains it
                verdict.mismatches = (self.expected.mismatches(self.cert)
                                      or [("identity", self.expected.describe(), self.failure)])
        return verdict


def verify_blob(verifier: Verifier, sha256_hex: str, bundle_bytes: bytes,
                expected: ExpectedIdentity) -> Verdict:
    """Verify a bundle over a file given by its sha256 (so large files stream once)."""
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore_models.common.v1 import HashAlgorithm

    recorder = _Recorder(expected)
    try:
        bundle = Bundle.from_json(bundle_bytes)
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256_hex))
        verifier.verify_artifact(hashed, bundle, recorder)
    except Exception as exc:  # any failure to verify is a rejection, never a crash
        return recorder.fill(Verdict(_describe(exc)))
    return recorder.fill(Verdict(None))


def verify_dsse(verifier: Verifier, bundle_bytes: bytes, expected: SignerPolicy) -> Verdict:
    """Verify a DSSE bundle; the payload is returned only from a valid signature.

    ``verify_dsse`` checks the signature, not what the statement claims: callers
    must check its subjects against the artifacts themselves.
    """
    from sigstore.models import Bundle

    recorder = _Recorder(expected)
    try:
        bundle = Bundle.from_json(bundle_bytes)
        payload_type, payload = verifier.verify_dsse(bundle, recorder)
    except Exception as exc:  # any failure to verify is a rejection, never a crash
        return recorder.fill(Verdict(_describe(exc)))
    return recorder.fill(Verdict(None, payload_type=payload_type, payload=payload))


def _describe(exc: Exception) -> str:
    # pydantic and sigstore messages span lines; a report line must not
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
