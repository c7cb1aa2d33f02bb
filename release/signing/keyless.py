"""The keyless backend: sigstore-python against production, staging or a private instance.

One Fulcio certificate is requested per stage (``SigningContext.signer`` caches it)
and every signature is logged in Rekor and timestamped, as the trust config's signing
config asks. Bundles are Sigstore bundle v0.3 JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import ReleaseError, StageFailed
from release.pem.der import utf8_string
from release.signing import (
    BACKEND,
    BUNDLE_SUFFIX,
    IDENTITY,
    ISSUER,
    KIND_BUNDLE,
    SignedBlob,
    SignedStatement,
    checked_digest,
)
from release.signing.dsse import statement_bytes

if TYPE_CHECKING:
    from sigstore.models import Bundle, ClientTrustConfig
    from sigstore.sign import Signer as SigstoreSigner

#: The public-good instances, as their signing configs name them (for plans; no network).
INSTANCES = {
    "production": "Sigstore public-good instance (fulcio.sigstore.dev, rekor.sigstore.dev)",
    "staging": "Sigstore staging instance (fulcio.sigstage.dev, rekor.sigstage.dev)",
}


def describe_instance(instance: str | None, trust_config: Path | None, shown: str) -> str:
    """Where signatures would go, read from the trust config file without importing sigstore."""
    if trust_config is None:
        return INSTANCES[instance or "production"]
    data = _read_json(trust_config, shown)
    signing = data.get("signingConfig", {}) if isinstance(data, dict) else {}

    def urls(key: str) -> str:
        found = [s.get("url", "?") for s in signing.get(key, []) if isinstance(s, dict)]
        return ", ".join(dict.fromkeys(found)) or "none"

    # the digest binds the whole file (trusted root, timestamp authorities, OIDC URLs)
    # into a reviewed plan, not only the URLs shown
    digest = hashlib.sha256(trust_config.read_bytes()).hexdigest()
    return (f"the private Sigstore instance of {shown} (Fulcio {urls('caUrls')}, "
            f"Rekor {urls('rekorTlogUrls')}; file sha256:{digest})")


def load_trust_config(instance: str | None, trust_config: Path | None,
                      shown: str) -> ClientTrustConfig:
    """The ClientTrustConfig to sign with; production and staging come from Sigstore's TUF."""
    from sigstore.errors import Error
    from sigstore.models import ClientTrustConfig

    try:
        if trust_config is not None:
            _read_json(trust_config, shown)
            return ClientTrustConfig.from_json(trust_config.read_text(encoding="utf-8"))
        if instance == "staging":
            return ClientTrustConfig.staging()
        return ClientTrustConfig.production()
    except ReleaseError:
        raise
    except (Error, ValueError, OSError) as exc:
        raise StageFailed(f"cannot load the Sigstore trust config ({shown}): {exc}",
                          "check `trust-config`, or the network path to Sigstore's TUF "
                          "repository") from None


def _read_json(path: Path, shown: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StageFailed(f"cannot read the Sigstore trust config {shown}: {exc.strerror}",
                          "check the stage's `trust-config` path") from None
    except ValueError as exc:
        raise StageFailed(f"the Sigstore trust config {shown} is not JSON: {exc}",
                          "it must be a ClientTrustConfig (trustedRoot + signingConfig)"
                          ) from None


class KeylessSigner:
    """Signs with a short-lived Fulcio certificate; see :class:`release.signing.Signer`."""

    backend = "sigstore"

    def __init__(self, trust: ClientTrustConfig, token: str) -> None:
        from sigstore.oidc import IdentityToken
        from sigstore.sign import SigningContext

        self._stack = contextlib.ExitStack()
        with _sigstore_errors("preparing to sign"):
            identity = IdentityToken(token)
            context = SigningContext.from_trust_config(trust)
            self._signer: SigstoreSigner = self._stack.enter_context(context.signer(identity))

    def sign_file(self, path: Path, sha256: str) -> SignedBlob:
        """A bundle over the file's SHA-256 (``hashedrekord`` entry; the file is not loaded)."""
        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=checked_digest(path, sha256))
        with _sigstore_errors(f"signing {path.name}"):
            bundle = self._signer.sign_artifact(hashed)
        return SignedBlob(BUNDLE_SUFFIX, bundle.to_json().encode("utf-8"), KIND_BUNDLE,
                          _notes(bundle))

    def sign_image_payload(self, image: str, digest: str) -> tuple[bytes, SignedBlob]:
        """cosign 2's simple-signing payload of the image and a bundle over it."""
        import hashlib

        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        from release.oci.legacy_cosign import simple_signing_payload

        payload = simple_signing_payload(image, digest)
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256,
                        digest=hashlib.sha256(payload).digest())
        with _sigstore_errors(f"signing {image}@{digest}"):
            bundle = self._signer.sign_artifact(hashed)
        return payload, SignedBlob(BUNDLE_SUFFIX, bundle.to_json().encode("utf-8"),
                                   KIND_BUNDLE, _notes(bundle))

    def sign_statement(self, statement: Mapping[str, Any]) -> SignedStatement:
        """A bundle holding the DSSE envelope (``dsse`` entry in Rekor)."""
        from sigstore import dsse

        with _sigstore_errors("signing the statement"):
            bundle = self._signer.sign_dsse(dsse.Statement(statement_bytes(statement)))
        data = json.loads(bundle.to_json())
        return SignedStatement(data["dsseEnvelope"], bundle.to_json().encode("utf-8"),
                               _notes(bundle))

    def public_key_pem(self) -> None:
        return None

    def close(self) -> None:
        self._stack.close()


def _notes(bundle: Bundle) -> dict[str, str]:
    """The certificate's identity (SAN) and issuer, for the artifact's annotations."""
    from cryptography import x509

    cert = bundle.signing_certificate
    notes = {BACKEND: "sigstore"}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = (san.get_values_for_type(x509.UniformResourceIdentifier)
                 + san.get_values_for_type(x509.RFC822Name))
        if names:
            notes[IDENTITY] = names[0]
    except x509.ExtensionNotFound:
        pass
    for oid in ("1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.1"):
        try:
            ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
        notes[ISSUER] = utf8_string(raw) if oid.endswith(".8") else raw.decode("utf-8", "replace")
        break
    return notes




@contextlib.contextmanager
def _sigstore_errors(doing: str) -> Any:
    """sigstore-python and network errors -> StageFailed naming what was being done."""
    import requests
    from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
    from sigstore._internal.rekor import RekorClientError
    from sigstore._internal.timestamp import TimestampError
    from sigstore.errors import Error
    from sigstore.oidc import ExpiredIdentity

    # the service clients' errors are not sigstore.errors.Error subclasses in 4.5.1
    service_errors = (FulcioClientError, RekorClientError, TimestampError, ExpiredCertificate)
    try:
        yield
    except requests.RequestException as exc:
        raise StageFailed(f"keyless signing failed while {doing}: cannot reach Sigstore "
                          f"({type(exc).__name__})", "check the network path to the "
                          "Sigstore instance in the trust config") from None
    except (Error, ExpiredIdentity, *service_errors) as exc:
        # FulcioClientError often carries no text, only its cause (the HTTP error)
        detail = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
        raise StageFailed(f"keyless signing failed while {doing}: {detail}",
                          "check the identity token and the Sigstore instance") from None
