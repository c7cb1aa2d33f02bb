"""Referrers of an image: OCI 1.1 artifact manifests whose ``subject`` is the image.

A signature or an attestation is stored as an artifact manifest (``artifactType``, an
empty config, one layer holding the document, ``subject`` = the image)
(https://github.com/opencontainers/image-spec/blob/main/manifest.md#guidelines-for-artifact-usage).
A registry with the referrers API indexes it on push and says so with an ``OCI-Subject``
header; for one without (Debian's docker-registry 2.8, some ECR regions) the client keeps
the index itself under the tag ``sha256-<hex>`` of the image digest, the referrers tag
schema (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema).
That index is shared with other tools (cosign, oras, notation): we add our entry and keep
every other one as it was, with every field it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release.errors import IntegrityError, StageFailed
from release.oci.descriptor import (
    INDEX,
    INDEX_TYPES,
    MANIFEST,
    Descriptor,
    canonical_json,
    load_json,
    sha256_digest,
)
from release.oci.registry import Registry

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
#: The empty JSON object, the content of every empty descriptor (image-spec manifest.md).
EMPTY_DATA = b"{}"
#: How often a read-modify-write of the tag index is retried when another writer raced us.
_ATTEMPTS = 3


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for ``sha256:<hex>``: ``sha256-<hex>``."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"


@dataclass(frozen=True)
class Referrer:
    """One entry of a referrers list: the artifact manifest, its type and annotations."""

    descriptor: Descriptor
    artifact_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Referrer:
        return cls(Descriptor.from_json(data), str(data.get("artifactType", "")))


@dataclass(frozen=True)
class Attached:
    """Where a referrer went: its manifest digest, and ``api`` or the fallback tag."""

    digest: str
    via: str


def artifact_manifest(subject: Descriptor, artifact_type: str, layer_type: str, layer: bytes,
                      annotations: Mapping[str, str]) -> bytes:
    """The artifact manifest of one document about ``subject``."""
    return canonical_json({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256_digest(EMPTY_DATA),
                   "size": len(EMPTY_DATA)},
        "layers": [{"mediaType": layer_type, "digest": sha256_digest(layer),
                    "size": len(layer)}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest,
                    "size": subject.size},
        "annotations": dict(annotations),
    })


def attach(reg: Registry, subject: Descriptor, artifact_type: str, layer: bytes,
           annotations: Mapping[str, str], log: Callable[[str], None]) -> Attached:
    """Store ``layer`` as a referrer of ``subject`` in ``reg``; list it where clients look."""
    reg.upload_bytes(EMPTY_DATA, Descriptor(EMPTY_CONFIG, sha256_digest(EMPTY_DATA),
                                            len(EMPTY_DATA)))
    reg.upload_bytes(layer, Descriptor(artifact_type, sha256_digest(layer), len(layer)))
    manifest = artifact_manifest(subject, artifact_type, artifact_type, layer, annotations)
    digest = sha256_digest(manifest)
    indexed = reg.put_manifest(digest, manifest, MANIFEST)
    if indexed == subject.digest:
        log(f"referrer {digest} of {reg.where}@{subject.digest} (referrers API)")
        return Attached(digest, "api")
    entry = {"mediaType": MANIFEST, "digest": digest, "size": len(manifest),
             "artifactType": artifact_type, "annotations": dict(annotations)}
    tag = fallback_tag(subject.digest)
    _add_to_tag_index(reg, tag, entry)
    log(f"referrer {digest} of {reg.where}@{subject.digest} (listed under tag {tag})")
    return Attached(digest, tag)


def _read_tag_index(reg: Registry, tag: str) -> dict[str, Any]:
    """The index under ``tag``, or a new empty one; anything else there is not ours to
    replace."""
    current = reg.manifest_digest(tag)
    if current is None:
        return {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    data, kind = reg.get_manifest(current)
    why = ""
    try:
        doc = load_json(data)
    except ValueError as exc:
        doc, why = None, f" (not JSON we can rewrite: {str(exc)[:80]})"
    if kind not in INDEX_TYPES or not isinstance(doc, dict) \
            or not isinstance(doc.get("manifests"), list):
        raise StageFailed(
            f"tag {tag} of {reg.where} holds a {kind or 'document'} that is not a referrers "
            f"index{why}; it is not ours to overwrite",
            "the referrers tag schema reserves this tag for the index of the image's "
            "referrers; remove what was pushed there, or use a registry with the referrers "
            "API")
    return doc


def _add_to_tag_index(reg: Registry, tag: str, entry: dict[str, Any]) -> None:
    """Read-modify-write of the tag index, re-read to catch a concurrent writer.

    The registry API has no compare-and-swap a docker-registry honours, so a writer
    racing us between our read and our write can still lose an entry; we re-read after
    writing and retry when what is there is not what we wrote, and every entry we read
    is in what we write.
    """
    for _ in range(_ATTEMPTS):
        doc = _read_tag_index(reg, tag)
        if any(isinstance(m, dict) and m.get("digest") == entry["digest"]
               for m in doc["manifests"]):
            return
        doc["manifests"].append(entry)
        data = canonical_json(doc)
        reg.put_manifest(tag, data, str(doc.get("mediaType") or INDEX))
        if reg.manifest_digest(tag) == sha256_digest(data):
            return
    raise IntegrityError(f"tag {tag} of {reg.where} kept changing while we added a "
                         "referrer to it", "another tool is writing referrers of this "
                         "image at the same time; run the stage again")


def list_referrers(reg: Registry, digest: str) -> tuple[list[Referrer], str, list[str]]:
    """The referrers of ``digest``: from the API when the registry has one, else from the
    tag schema's index; which of the two (``api`` or the tag); and the entries that are
    not sha256 descriptors (another tool's, say a ``sha512:`` one), described, unread."""
    pages = reg.referrers(digest)
    via = "api"
    if pages is None:
        via = fallback_tag(digest)
        current = reg.manifest_digest(via)
        if current is None:
            return [], via, []
        pages = [reg.get_manifest(current)[0]]
    try:
        lists = [load_json(page)["manifests"] for page in pages]
        if not all(isinstance(m, list) for m in lists):
            raise TypeError("manifests is not a list")
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"the referrers index of {reg.where}@{digest} ({via}) is "
                             "malformed", "the registry or another tool wrote it") from None
    found: list[Referrer] = []
    foreign: list[str] = []
    for entry in (m for listed in lists for m in listed):
        try:
            found.append(Referrer.from_json(entry))
        except (ValueError, KeyError, TypeError, AttributeError):
            what = entry.get("digest") if isinstance(entry, dict) else None
            foreign.append(f"entry {len(found) + len(foreign) + 1} "
                           f"({str(what)[:80] if what is not None else 'no digest'})")
    return found, via, foreign
