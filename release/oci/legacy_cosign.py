"""cosign 2's signature layout, for consumers that do not read bundles from referrers yet.

cosign's signature spec (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md):
an image manifest under the tag ``sha256-<hex>.sig`` whose layers are simple-signing
payloads (``application/vnd.dev.cosign.simplesigning.v1+json``, naming the image digest),
each annotated with its base64 signature and, keyless, the PEM certificate and the Rekor
entry (``dev.sigstore.cosign/bundle``). Several signers share the tag: a layer is added,
never replaced, and anything under the tag that is not such a manifest is left alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from release.errors import IntegrityError, StageFailed
from release.oci.descriptor import (
    CONFIG,
    MANIFEST,
    MANIFEST_TYPES,
    Descriptor,
    canonical_json,
    load_json,
    sha256_digest,
)
from release.oci.registry import Registry

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def simple_signing_payload(image: str, digest: str) -> bytes:
    """The payload cosign signs for ``image@digest``."""
    return canonical_json({"critical": {"identity": {"docker-reference": image},
                                        "image": {"docker-manifest-digest": digest},
                                        "type": "cosign container image signature"},
                           "optional": None})


def layer_annotations(signature: bytes, bundle: bytes | None) -> dict[str, str]:
    """The layer's annotations: a key signature (DER), or what a keyless bundle holds."""
    if bundle is None:
        return {SIGNATURE: base64.b64encode(signature).decode("ascii")}
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    data = json.loads(bundle)
    material = data["verificationMaterial"]
    der = base64.b64decode(material.get("certificate", {}).get("rawBytes") or
                           material["x509CertificateChain"]["certificates"][0]["rawBytes"])
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
    entry = material["tlogEntries"][0]
    rekor = {"SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
             "Payload": {"body": entry["canonicalizedBody"],
                         "integratedTime": int(entry["integratedTime"]),
                         "logIndex": int(entry["logIndex"]),
                         "logID": base64.b64decode(entry["logId"]["keyId"]).hex()}}
    return {SIGNATURE: data["messageSignature"]["signature"], CERTIFICATE: pem,
            REKOR_BUNDLE: json.dumps(rekor, separators=(",", ":"), sort_keys=True)}


def _current(reg: Registry, tag: str) -> list[dict[str, Any]]:
    """The layers already under the signature tag (other signers'), or none."""
    digest = reg.manifest_digest(tag)
    if digest is None:
        return []
    data, kind = reg.get_manifest(digest)
    try:
        doc = load_json(data)
        layers = doc["layers"]
        ok = kind in MANIFEST_TYPES and isinstance(layers, list) and all(
            isinstance(x, dict) and x.get("mediaType") == SIMPLE_SIGNING for x in layers)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise StageFailed(f"tag {tag} of {reg.where} holds something other than cosign "
                          "signatures; it is not ours to overwrite",
                          "remove what was pushed there, or drop `legacy-cosign-tag`")
    return list(layers)


def attach_legacy(reg: Registry, digest: str, payload: bytes,
                  annotations: Mapping[str, str], log: Callable[[str], None]) -> str:
    """Add a signed payload as a layer of the ``sha256-<hex>.sig`` manifest; the tag."""
    tag = signature_tag(digest)
    layer = Descriptor(SIMPLE_SIGNING, sha256_digest(payload), len(payload),
                       annotations=dict(annotations))
    reg.upload_bytes(payload, layer)
    for _ in range(3):
        layers = _current(reg, tag)
        if any(x.get("digest") == layer.digest and x.get("annotations", {}).get(SIGNATURE)
               == annotations[SIGNATURE] for x in layers):
            return tag
        layers.append(layer.to_json())
        # the config lists the payloads as the image's layers, as cosign writes it
        config = canonical_json({"architecture": "", "os": "", "config": {},
                                 "rootfs": {"type": "layers",
                                            "diff_ids": [x["digest"] for x in layers]}})
        config_desc = Descriptor(CONFIG, sha256_digest(config), len(config))
        reg.upload_bytes(config, config_desc)
        manifest = canonical_json({"schemaVersion": 2, "mediaType": MANIFEST,
                                   "config": config_desc.to_json(), "layers": layers})
        reg.put_manifest(tag, manifest, MANIFEST)
        if reg.manifest_digest(tag) == sha256_digest(manifest):
            log(f"cosign 2 signature of {reg.where}@{digest} under tag {tag}")
            return tag
    raise IntegrityError(f"tag {tag} of {reg.where} kept changing while we added a "
                         "signature to it", "another signer is writing it; run the stage again")
