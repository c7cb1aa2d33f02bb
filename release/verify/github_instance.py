"""Bundles signed by GitHub's own Sigstore instance: its trust root, and their verification.

GitHub signs the release attestation of an immutable release (and private repositories'
attestations) on a Sigstore instance of its own, separate from the public-good one: its
Fulcio and timestamp authority are in its own trusted root (GitHub's TUF repository,
https://tuf-repo.github.com, which ``gh attestation trusted-root`` prints as its second
line), and it keeps no transparency log, so its bundles carry no log entry and their
certificates no SCT: the signing time comes from RFC 3161 timestamps alone (sigstore-go's
``WithSignedTimestamps(1)``, as gh configures it). sigstore-python 4.5 requires a log
entry in every bundle and a log in every trusted root, so these bundles are verified
here, with the same libraries sigstore-python uses: rfc3161-client for the timestamps,
cryptography's X.509 path validation for the certificate at the timestamped time, and
the DSSE signature over the pre-authentication encoding.

Only this root verifies these bundles, and this root verifies nothing else: a bundle
from the public-good instance fails here (its chain leads to another CA), and a bundle
from here fails against the public-good root.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import UsageError
from release.signing.dsse import pae
from release.verify.github_bundle import parse_bundle

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import TrustedRoot

#: GitHub's TUF repository of its Sigstore instance's trusted root.
GITHUB_TUF_URL = "https://tuf-repo.github.com"


@dataclass(frozen=True)
class GitHubTrust:
    """Where GitHub's trusted root comes from: a file, or GitHub's TUF repository."""

    trusted_root: Path | None = None

    def describe(self) -> str:
        if self.trusted_root is not None:
            return f"GitHub's Sigstore instance (trusted root {self.trusted_root.name})"
        return "GitHub's Sigstore instance (TUF)"

    def load(self) -> TrustedRoot | str:
        """The trusted root, or why there is none (the caller reports it)."""
        from sigstore.models import TrustedRoot

        if self.trusted_root is not None:
            check_root_file(self.trusted_root)
            try:
                return TrustedRoot.from_file(str(self.trusted_root))
            except Exception as exc:  # sigstore raises several kinds for a bad root
                raise UsageError(f"cannot load --github-trusted-root {self.trusted_root}: "
                                 f"{' '.join(str(exc).split())[:200]}",
                                 "pass the trusted_root.json of GitHub's Sigstore instance "
                                 "(the second line of `gh attestation trusted-root`)") from exc
        return _from_tuf()


def check_root_file(path: Path) -> None:
    """Refuse what cannot be GitHub's trusted root alone (checked before anything runs)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --github-trusted-root {path}: {exc}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith("{") and line.rstrip().endswith("}")
                              for line in lines):
        # gh's trusted_root.jsonl holds the public-good root too: never guess which to use
        raise UsageError(f"--github-trusted-root {path} holds {len(lines)} trusted roots",
                         "pass GitHub's alone: `gh attestation trusted-root | sed -n 2p`")


def _from_tuf() -> TrustedRoot | str:
    """GitHub's trusted root over TUF, when this machine has GitHub's TUF root already.

    TUF needs a first root.json obtained out of band; sigstore-python keeps one for the
    public-good instance only. Without one (``python -m sigstore plumbing trust-instance``
    bootstraps it), nothing is fetched and the caller says how to pass the root instead.
    """
    from sigstore._internal.tuf import TrustUpdater, _get_dirs
    from sigstore.models import TrustedRoot

    metadata, _ = _get_dirs(GITHUB_TUF_URL)
    if not (metadata / "root.json").is_file():
        # nothing to start TUF from: nothing is fetched, nothing is written
        return "no trusted root for GitHub's Sigstore instance on this machine"
    try:
        updater = TrustUpdater(GITHUB_TUF_URL, offline=False)
        return TrustedRoot.from_file(updater.get_trusted_root_path())
    except Exception as exc:  # no bootstrap root, no network, a TUF failure
        return f"no trusted root for GitHub's Sigstore instance ({type(exc).__name__})"


@dataclass
class GitHubVerdict:
    """What verifying one bundle against GitHub's instance found."""

    error: str | None
    cert: Certificate | None = None
    payload_type: str | None = None
    payload: bytes | None = None
    signed_at: datetime | None = None


def verify_dsse(root: TrustedRoot, bundle_bytes: bytes) -> GitHubVerdict:
    """Verify a DSSE bundle of GitHub's instance; the payload only from a valid one."""
    try:
        cert, payload_type, payload, signature, stamps = parse_bundle(bundle_bytes)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return GitHubVerdict(f"not a Sigstore DSSE bundle: {_short(exc)}")
    times = _timestamps(root, stamps, signature)
    if not times:
        return GitHubVerdict("no RFC 3161 timestamp verified against the trusted root's "
                             "timestamp authorities", cert)
    problem = _chain(root, cert, times) or _usage(cert) or _signature(cert, payload_type,
                                                                     payload, signature)
    if problem:
        return GitHubVerdict(problem, cert)
    return GitHubVerdict(None, cert, payload_type, payload, min(times))


def _timestamps(root: TrustedRoot, stamps: list[bytes], signature: bytes) -> list[datetime]:
    """The times of the timestamps over ``signature`` that a trusted TSA signed."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    times = []
    for raw in stamps:
        try:
            response = decode_timestamp_response(raw)
        except Exception:  # noqa: S112 - an undecodable timestamp is no evidence
            continue
        for authority in root.get_timestamp_authorities():
            chain = authority.certificates(allow_expired=True)
            if len(chain) < 2:
                continue
            builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
            for middle in chain[1:-1]:
                builder = builder.add_intermediate_certificate(middle)
            try:
                builder.build().verify_message(response, signature)
            except VerificationError:
                continue
            when = response.tst_info.gen_time
            end = authority.validity_period_end
            if authority.validity_period_start <= when and (end is None or when < end):
                times.append(when)
                break
    return times


def _chain(root: TrustedRoot, cert: Certificate, times: list[datetime]) -> str | None:
    """The certificate must chain to the root's Fulcio at every timestamped time."""
    from cryptography.x509 import ExtendedKeyUsage
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    try:
        store = Store(root.get_fulcio_certs())
    except Exception as exc:  # a root without a certificate authority
        return f"the trusted root has no usable certificate authority ({_short(exc)})"
    for when in times:
        verifier = PolicyBuilder().store(store).time(when).extension_policies(
            ca_policy=ca, ee_policy=ee).build_client_verifier()
        try:
            verifier.verify(cert, [])
        except (VerificationError, ValueError) as exc:
            return f"the certificate does not chain to the trusted root at {when}: " \
                   f"{_short(exc)}"
    return None


def _usage(cert: Certificate) -> str | None:
    from cryptography.x509 import ExtendedKeyUsage, ExtensionNotFound, KeyUsage
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        usage = cert.extensions.get_extension_for_class(KeyUsage).value
        extended = cert.extensions.get_extension_for_class(ExtendedKeyUsage).value
    except ExtensionNotFound as exc:
        return f"the certificate lacks {exc.oid.dotted_string}"
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        return "the certificate is not for code signing"
    return None


def _signature(cert: Certificate, payload_type: str, payload: bytes, signature: bytes
               ) -> str | None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return f"unsupported key type {type(key).__name__}"
    digest = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
    try:
        key.verify(signature, pae(payload_type, payload), ec.ECDSA(digest))
    except InvalidSignature:
        return "the DSSE signature does not verify with the certificate's key"
    return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
