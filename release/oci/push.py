"""Pushing a built image: blobs, then manifests by digest, read back, and only then tags.

A tag is moved only after the registry has served back, by digest, exactly the bytes
we built, so a tag never points at anything but the verified image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from release.errors import IntegrityError
from release.oci.auth import Credentials
from release.oci.descriptor import Descriptor
from release.oci.image import blobs_of, manifests_of
from release.oci.layout import Layout
from release.oci.registry import CHUNK, Registry


def push(layout: Layout, top: Descriptor, host: str, repository: str, tags: Sequence[str],
         *, credentials: Credentials | None, log: Callable[[str], None],
         chunk_size: int = CHUNK) -> None:
    """Push the image ``top`` of ``layout`` to ``host/repository`` and point ``tags`` at it."""
    with Registry(host, repository, push=True, credentials=credentials,
                  chunk_size=chunk_size) as reg:
        children = manifests_of(layout, top)
        seen: set[str] = set()
        for manifest in children:
            for blob in blobs_of(layout, manifest):
                if blob.digest in seen:
                    continue
                seen.add(blob.digest)
                if reg.has_blob(blob):
                    log(f"blob {blob.digest} already in {host}/{repository}")
                    continue
                log(f"upload blob {blob.digest} ({blob.size} bytes)")
                reg.upload_blob(layout.blob_path(blob.digest), blob)
        documents = [*children, top] if children != [top] else [top]
        for doc in documents:
            _put_verified(reg, layout, doc)
        data = layout.blob_path(top.digest).read_bytes()
        for tag in tags:
            reg.put_manifest(tag, data, top.media_type)
            now = reg.manifest_digest(tag)
            if now != top.digest:
                raise IntegrityError(f"tag {tag} of {reg.where} points at {now} after the "
                                     f"push, not at {top.digest}",
                                     "someone else may be pushing to this tag")
            log(f"tag {reg.where}:{tag} -> {top.digest}")


def _put_verified(reg: Registry, layout: Layout, doc: Descriptor) -> None:
    data = layout.blob_path(doc.digest).read_bytes()
    reg.put_manifest(doc.digest, data, doc.media_type)
    back, _ = reg.get_manifest(doc.digest)
    if back != data:
        raise IntegrityError(f"{reg.where} serves manifest {doc.digest} with other bytes than "
                             "were pushed", "do not tag this image; check the registry")
