"""Whether a Sigstore bundle found in a registry was signed by the expected signer: a
Sigstore identity (keyless, ``--repository``/``--tag``) or a public key (``--key``).

Anyone who can push may attach bundles to an image, and cosign ignores signatures that
do not match what it was asked to verify; so does ``release verify oci://``: a bundle by
another identity or another key is *skipped*, named in the report. One that claims the
expected signer (the certificate's workflow identity, or the envelope's key ID) and does
not verify, or breaks the policy (``--commit``, ``--deny-self-hosted-runners``), *fails*.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release.verify.identity import ExpectedIdentity
    from release.verify.keys import PublicKey
    from release.verify.sigstore_bundles import Trust

#: Mismatches that say the certificate is another signer's, not a broken one of ours.
_ANOTHER_SIGNER = ("identity (SAN)", "issuer", "repository", "ref")


@dataclass(frozen=True)
class Signed:
    """What checking one bundle found: ``outcome`` ``ok`` (then ``payload``), ``skip`` or
    ``fail``; ``message`` is who signed, or why not."""

    outcome: str
    message: str
    payload_type: str | None = None
    payload: bytes | None = None
    #: The commit in the signing certificate (keyless), for the provenance check.
    signer_commit: str | None = None
    #: Signed by a Sigstore certificate of the expected workflow (not a key).
    keyless: bool = False


class ImageSigner:
    """The expected signer of an image's bundles."""

    def __init__(self, identity: ExpectedIdentity | None, key: PublicKey | None,
                 trust: Trust) -> None:
        self.identity, self.key, self.trust = identity, key, trust
        self._loaded: Any = None
        self._keyid: str | None = None

    def check(self, data: dict[str, Any], bundle: bytes) -> Signed:
        """Check the bundle ``bundle`` (parsed: ``data``)."""
        material = data.get("verificationMaterial")
        if isinstance(material, dict) and "publicKey" in material:
            return self._check_key(data)
        if self.identity is None:
            return Signed("skip", "a keyless bundle, and no --repository/--tag to check it "
                          "against")
        from release.verify.sigstore_bundles import verify_dsse

        if self._loaded is None:
            self._loaded = self.trust.verifier()
        verdict = verify_dsse(self._loaded, bundle, self.identity)
        if verdict.error is None and verdict.identity_ok:
            return Signed("ok", self.identity.describe(), verdict.payload_type,
                          verdict.payload, (verdict.identity or {}).get("commit"), True)
        if verdict.mismatches:
            what = "; ".join(f"{w}: expected {e}, found {f}" for w, e, f in verdict.mismatches)
            if any(w in _ANOTHER_SIGNER for w, _, _ in verdict.mismatches):
                return Signed("skip", f"signed by another identity ({what})")
            return Signed("fail", f"signed by the expected workflow against the policy "
                          f"({what})")
        return Signed("fail", f"the signature does not verify: {verdict.error}")

    def _check_key(self, data: dict[str, Any]) -> Signed:
        from release.signing.dsse import pae

        if self.key is None:
            return Signed("skip", "a key-signed bundle, and no --key to check it with")
        try:
            envelope = data["dsseEnvelope"]
            payload = base64.b64decode(envelope["payload"], validate=True)
            kind = str(envelope["payloadType"])
            signatures = [(s.get("keyid"), base64.b64decode(s["sig"], validate=True))
                          for s in envelope["signatures"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return Signed("fail", "the bundle holds no well-formed DSSE envelope")
        if any(self.key.verify_bytes(sig, pae(kind, payload)) for _, sig in signatures):
            return Signed("ok", f"key {self.key.fingerprint}", kind, payload)
        hint = (data["verificationMaterial"]["publicKey"] or {}).get("hint") \
            if isinstance(data["verificationMaterial"]["publicKey"], dict) else None
        if self.keyid in [hint, *(k for k, _ in signatures)]:
            return Signed("fail", f"names key {self.key.fingerprint} (key ID {self.keyid}), "
                          "but no signature verifies with it")
        return Signed("skip", f"signed with another key: no signature verifies with key "
                      f"{self.key.fingerprint}")

    @property
    def keyid(self) -> str:
        """in-toto's key ID of ``--key``, as our key signer writes it in envelopes."""
        if self._keyid is None:
            from cryptography.hazmat.primitives import serialization

            from release.signing.keys import intoto_keyid

            assert self.key is not None
            self._keyid = intoto_keyid(self.key.key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return self._keyid
