"""Signatures and attestations of an image, stored in its registry as cosign v3 stores them.

Each is a Sigstore bundle v0.3 holding a DSSE envelope over an in-toto statement whose
subject is the image's manifest (or index) digest; a signature's predicate type is
cosign's ``https://sigstore.dev/cosign/sign/v1``, an attestation's is its own (SLSA
provenance, CycloneDX). The bundle is a referrer of the image
(:mod:`release.oci.referrers`) annotated the way cosign annotates it, so ``cosign
verify``, ``cosign verify-attestation`` and ``gh attestation verify --bundle-from-oci``
find it. A key signature is the same bundle with a public key hint as its verification
material instead of a certificate and log entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release.oci.descriptor import Descriptor, canonical_json
from release.oci.referrers import Attached, attach, fallback_tag
from release.oci.registry import Registry
from release.signing import SignedStatement, Signer

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: cosign's predicate type of an image signature.
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: The annotations cosign v3 writes on a bundle referrer.
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"


@dataclass(frozen=True)
class ImageTarget:
    """A pushed image: its repository (``host/path``) and its manifest descriptor."""

    host: str
    repository: str
    subject: Descriptor

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def describe(self) -> str:
        """What a plan shows: where the bundle goes, and the fallback tag."""
        return (f"{self.name}@{self.subject.digest} and store the bundle as a referrer at "
                f"{self.host} (tag fallback {fallback_tag(self.subject.digest)})")


def signature_statement(target: ImageTarget) -> dict[str, Any]:
    """The statement an image signature signs: the image digest, cosign's predicate."""
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": target.name,
                         "digest": {"sha256": target.subject.digest.removeprefix("sha256:")}}],
            "predicateType": COSIGN_SIGN, "predicate": {}}


def bundle_of(signed: SignedStatement, signer: Signer) -> bytes:
    """The Sigstore bundle of a signed statement: keyless, as Sigstore returned it; with a
    key, the envelope with the key's ID as the public key hint."""
    if signed.bundle is not None:
        return signed.bundle
    envelope = dict(signed.envelope)
    hint = str(envelope["signatures"][0].get("keyid", ""))
    return canonical_json({"mediaType": BUNDLE_TYPE,
                           "verificationMaterial": {"publicKey": {"hint": hint}},
                           "dsseEnvelope": envelope})


def store(reg: Registry, target: ImageTarget, bundle: bytes, predicate_type: str,
          log: Callable[[str], None]) -> Attached:
    """Attach ``bundle`` to the image with cosign's annotations."""
    notes: Mapping[str, str] = {CONTENT_ANNOTATION: "dsse-envelope",
                                PREDICATE_ANNOTATION: predicate_type}
    return attach(reg, target.subject, BUNDLE_TYPE, bundle, notes, log)


def sign_and_store(signer: Signer, reg: Registry, target: ImageTarget,
                   statement: Mapping[str, Any], log: Callable[[str], None]
                   ) -> tuple[SignedStatement, bytes, Attached]:
    """Sign a statement about the image and store its bundle as the image's referrer."""
    signed = signer.sign_statement(statement)
    bundle = bundle_of(signed, signer)
    return signed, bundle, store(reg, target, bundle, str(statement["predicateType"]), log)


def sign_image(signer: Signer, reg: Registry, target: ImageTarget,
               log: Callable[[str], None]) -> tuple[bytes, Attached]:
    """Sign the image digest and store the bundle as its referrer."""
    _, bundle, attached = sign_and_store(signer, reg, target, signature_statement(target), log)
    return bundle, attached

