"""The parts of a bundle from GitHub's Sigstore instance, read field by field.

The signing certificate (alone, or the first of a chain), the DSSE envelope with its one
signature, and the RFC 3161 timestamps; a missing or malformed field is a ValueError that
names it. Nothing here is trusted yet: :mod:`release.verify.github_instance` checks the
timestamps, the certificate chain and the signature.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from release.untrusted_json import loads_json

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

_MEDIA_TYPES = ("application/vnd.dev.sigstore.bundle.v0.3+json",
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
                "application/vnd.dev.sigstore.bundle+json;version=0.2")
#: As sigstore-python: more timestamps than this is a denial of service, not evidence.
MAX_TIMESTAMPS = 32


def parse_bundle(raw: bytes) -> tuple[Certificate, str, bytes, bytes, list[bytes]]:
    """The parts of a bundle; a ValueError naming the field that is missing or malformed."""
    from cryptography import x509

    data: Any = loads_json(raw)
    if not isinstance(data, dict):
        raise ValueError(f"the bundle is {_kind(data)}, not an object")
    if data.get("mediaType") not in _MEDIA_TYPES:
        raise ValueError(f"unsupported bundle media type {data.get('mediaType')!r}")
    material = _get(data, "verificationMaterial", dict)
    if "certificate" in material:
        der = _b64(_get(_get(material, "certificate", dict, "verificationMaterial."),
                        "rawBytes", str, "verificationMaterial.certificate."),
                   "verificationMaterial.certificate.rawBytes")
    else:
        chain = _get(_get(material, "x509CertificateChain", dict, "verificationMaterial."),
                     "certificates", list, "verificationMaterial.x509CertificateChain.")
        where = "verificationMaterial.x509CertificateChain.certificates[0]"
        if not chain or not isinstance(chain[0], dict):
            raise ValueError(f"{where} is missing or not an object")
        der = _b64(_get(chain[0], "rawBytes", str, where + "."), where + ".rawBytes")
    envelope = _get(data, "dsseEnvelope", dict)
    signatures = _get(envelope, "signatures", list, "dsseEnvelope.")
    if len(signatures) != 1:
        raise ValueError(f"the envelope has {len(signatures)} signatures, not 1")
    if not isinstance(signatures[0], dict):
        raise ValueError(f"dsseEnvelope.signatures[0] is {_kind(signatures[0])}, "
                         "not an object")
    signature = _b64(_get(signatures[0], "sig", str, "dsseEnvelope.signatures[0]."),
                     "dsseEnvelope.signatures[0].sig")
    if not signature:
        raise ValueError("the envelope's signature is empty")
    tvd = material.get("timestampVerificationData")
    if tvd is None:
        tvd = {}
    if not isinstance(tvd, dict):
        raise ValueError(f"verificationMaterial.timestampVerificationData is {_kind(tvd)}, "
                         "not an object")
    stamps = tvd.get("rfc3161Timestamps")
    if stamps is None:
        stamps = []
    if not isinstance(stamps, list):
        raise ValueError("verificationMaterial.timestampVerificationData.rfc3161Timestamps "
                         f"is {_kind(stamps)}, not a list")
    if len(stamps) > MAX_TIMESTAMPS:
        raise ValueError(f"{len(stamps)} timestamps, more than {MAX_TIMESTAMPS}")
    raw_stamps = []
    for i, stamp in enumerate(stamps):
        where = f"verificationMaterial.timestampVerificationData.rfc3161Timestamps[{i}]"
        if not isinstance(stamp, dict):
            raise ValueError(f"{where} is {_kind(stamp)}, not an object")
        raw_stamps.append(_b64(_get(stamp, "signedTimestamp", str, where + "."),
                               where + ".signedTimestamp"))
    if len(set(raw_stamps)) != len(raw_stamps):
        raise ValueError("a timestamp is repeated")
    payload_type = _get(envelope, "payloadType", str, "dsseEnvelope.")
    payload = _b64(_get(envelope, "payload", str, "dsseEnvelope."), "dsseEnvelope.payload")
    return x509.load_der_x509_certificate(der), payload_type, payload, signature, raw_stamps


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _get(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    """``obj[key]``, which must be of ``kind`` (ValueError naming the field if not)."""
    if key not in obj:
        raise ValueError(f"{where}{key} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        raise ValueError(f"{where}{key} is {_kind(value)}, not {_kind(kind())}")
    return value


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not base64") from None
