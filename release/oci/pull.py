"""Pulling a base image by digest: every manifest, config and layer checked on arrival."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.errors import IntegrityError, StageFailed
from release.oci.descriptor import (
    INDEX_TYPES,
    LAYER_GZIP,
    LAYER_TAR,
    MANIFEST_TYPES,
    TO_OCI,
    Descriptor,
    Platform,
)
from release.oci.layout import Layout
from release.oci.reference import Reference
from release.oci.registry import Registry

_LAYER_TYPES = (LAYER_GZIP, LAYER_TAR, "application/vnd.oci.image.layer.v1.tar+zstd")


@dataclass(frozen=True)
class BaseImage:
    """One platform's image of the base, its blobs already in the layout."""

    reference: Reference
    digest: str
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]


def pull_base(ref: Reference, platforms: Sequence[Platform], layout: Layout, tmp: Path,
              log: Callable[[str], None]) -> dict[Platform, BaseImage]:
    """Fetch ``ref`` (pinned by digest) for each platform into ``layout``."""
    assert ref.digest is not None
    with Registry(ref.api_host, ref.repository) as reg:
        data, served_type = reg.get_manifest(ref.digest)
        doc = _document(data, ref.digest, str(ref))
        media_type = doc.get("mediaType") or served_type
        if media_type in INDEX_TYPES:
            children = [Descriptor.from_json(d) for d in doc.get("manifests", [])]
            picks: dict[Platform, str] = {}
            for platform in platforms:
                match = [c for c in children if c.platform and platform.matches(
                    c.platform.to_json()) and c.media_type in MANIFEST_TYPES]
                if not match:
                    have = ", ".join(sorted({str(c.platform) for c in children if c.platform}))
                    raise StageFailed(f"base image {ref} has no image for {platform}",
                                      f"it has: {have or 'no platforms'}")
                picks[platform] = match[0].digest
        elif media_type in MANIFEST_TYPES:
            if len(platforms) != 1:
                raise StageFailed(f"base image {ref} is a single-platform image; it cannot "
                                  f"serve {', '.join(map(str, platforms))}",
                                  "pin the digest of the base's image index instead")
            picks = {platforms[0]: ref.digest}
        else:
            raise StageFailed(f"base image {ref} has unsupported media type {media_type!r}")
        images: dict[Platform, BaseImage] = {}
        for platform, digest in picks.items():
            log(f"pull base {ref.repository}@{digest} ({platform})")
            images[platform] = _pull_image(reg, ref, platform, digest, data if digest ==
                                           ref.digest else None, layout, tmp)
        return images


def _document(data: bytes, digest: str, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise StageFailed(f"{where}: manifest {digest} is not an OCI or Docker schema 2 "
                          "manifest")
    return doc


def _pull_image(reg: Registry, ref: Reference, platform: Platform, digest: str,
                data: bytes | None, layout: Layout, tmp: Path) -> BaseImage:
    if data is None:
        data, _ = reg.get_manifest(digest)
    doc = _document(data, digest, str(ref))
    try:
        config_desc = Descriptor.from_json(doc["config"])
        layers = [Descriptor.from_json(d) for d in doc.get("layers", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise StageFailed(f"{ref}: malformed manifest {digest}: {exc}") from None
    _fetch(reg, layout, tmp, config_desc, f"config of {platform}")
    try:
        config = json.loads(layout.blob_path(config_desc.digest).read_bytes())
    except ValueError:
        raise StageFailed(f"{ref}: the config {config_desc.digest} is not JSON") from None
    if not platform.matches(config):
        raise IntegrityError(f"base image {ref} ({digest}) is for "
                             f"{config.get('os')}/{config.get('architecture')}, not {platform}")
    oci_layers = []
    for n, layer in enumerate(layers, 1):
        media = TO_OCI.get(layer.media_type, layer.media_type)
        if media not in _LAYER_TYPES:
            raise StageFailed(f"base image {ref}: layer {layer.digest} has media type "
                              f"{layer.media_type!r}, which cannot be redistributed or read")
        _fetch(reg, layout, tmp, layer, f"layer {n} of {platform}")
        oci_layers.append(Descriptor(media, layer.digest, layer.size))
    return BaseImage(ref, digest, config, tuple(oci_layers))


def _fetch(reg: Registry, layout: Layout, tmp: Path, desc: Descriptor, what: str) -> None:
    if layout.has(desc.digest):
        return  # fetched and checked for another platform already
    part = tmp / (desc.digest.replace(":", "-") + ".part")
    reg.fetch_blob(desc, part, what)
    layout.add_file(part, desc.digest)
