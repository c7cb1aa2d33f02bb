"""Assembling images: one layer of release files on a base, a config, a manifest, an index.

Documents follow the image spec's config, manifest and index
(https://github.com/opencontainers/image-spec/blob/main/config.md, manifest.md,
image-index.md). Everything is derived from the inputs alone, and ``created`` is
``SOURCE_DATE_EPOCH``, so the same inputs give the same digests.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from release.oci.descriptor import (
    CONFIG,
    INDEX,
    LAYER_GZIP,
    MANIFEST,
    Descriptor,
    Platform,
    canonical_json,
)
from release.oci.layer import LayerFile, write_layer
from release.oci.layout import Layout
from release.oci.pull import BaseImage

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ImageSpec:
    """What one platform's image holds; ``labels`` also become manifest annotations."""

    platform: Platform
    files: tuple[LayerFile, ...]
    epoch: int
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def rfc3339(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(spec: ImageSpec, base: BaseImage | None, diff_ids: list[str]) -> dict[str, Any]:
    # start from the base's config so its PATH, ports, stop signal... carry over
    data: dict[str, Any] = copy.deepcopy(base.config) if base else {}
    run: dict[str, Any] = dict(data.get("config") or {})
    if spec.entrypoint is not None:
        run["Entrypoint"] = list(spec.entrypoint)
        run.pop("Cmd", None)  # as in a Dockerfile: a new ENTRYPOINT drops the base's CMD
    if spec.cmd is not None:
        run["Cmd"] = list(spec.cmd)
    if spec.env:
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in run.get("Env") or [])
        env.update(spec.env)
        run["Env"] = [f"{k}={v}" for k, v in env.items()]
    if spec.user is not None:
        run["User"] = spec.user
    if spec.workdir is not None:
        run["WorkingDir"] = spec.workdir
    if spec.labels:
        run["Labels"] = {**(run.get("Labels") or {}), **spec.labels}
    created = rfc3339(spec.epoch)
    history = list(data.get("history") or [])
    base_ids = list((data.get("rootfs") or {}).get("diff_ids") or [])
    if spec.files:
        history.append({"created": created, "created_by": "release oci-image: "
                        f"{len(spec.files)} file(s)"})
    else:
        history.append({"created": created, "created_by": "release oci-image: config",
                        "empty_layer": True})
    data.update({"created": created, "config": run, "history": history,
                 "rootfs": {"type": "layers", "diff_ids": base_ids + diff_ids},
                 **spec.platform.to_json()})
    data.pop("container_config", None)  # Docker-builder leftovers describe the base's build
    data.pop("container", None)
    if spec.platform.variant is None:
        data.pop("variant", None)
    return data


def build_manifest(layout: Layout, spec: ImageSpec, base: BaseImage | None) -> Descriptor:
    """Write one platform's layer, config and manifest; return the manifest's descriptor."""
    layers = list(base.layers) if base else []
    diff_ids: list[str] = []
    if spec.files:
        tmp = layout.root / "layer.tmp"
        layer = write_layer(spec.files, tmp, mtime=spec.epoch)
        layout.add_file(tmp, layer.digest)
        layers.append(Descriptor(LAYER_GZIP, layer.digest, layer.size))
        diff_ids.append(layer.diff_id)
    config = layout.add_bytes(canonical_json(_config(spec, base, diff_ids)), CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config.to_json(),
        "layers": [d.to_json() for d in layers],
    }
    if spec.annotations:
        manifest["annotations"] = dict(spec.annotations)
    return layout.add_bytes(canonical_json(manifest), MANIFEST, platform=spec.platform)


def build(layout: Layout, specs: Sequence[ImageSpec], bases: Mapping[Platform, BaseImage],
          *, ref_name: str | None = None, annotations: Mapping[str, str] | None = None
          ) -> Descriptor:
    """Build every platform's image; one image is its manifest, several an index."""
    manifests = [build_manifest(layout, s, bases.get(s.platform)) for s in specs]
    if len(manifests) == 1:
        top = manifests[0]
    else:
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": INDEX,
                                 "manifests": [m.to_json() for m in manifests]}
        if annotations:
            index["annotations"] = dict(annotations)
        top = layout.add_bytes(canonical_json(index), INDEX)
    entry = Descriptor(top.media_type, top.digest, top.size,
                       annotations={REF_NAME: ref_name} if ref_name else {})
    layout.write_index([entry])
    return top


def manifests_of(layout: Layout, top: Descriptor) -> list[Descriptor]:
    """The image manifests under ``top`` (itself, or the entries of an index)."""
    if top.media_type != INDEX:
        return [top]
    return [Descriptor.from_json(d) for d in layout.read_json(top.digest)["manifests"]]


def blobs_of(layout: Layout, manifest: Descriptor) -> list[Descriptor]:
    """The config and layers a manifest references."""
    doc = layout.read_json(manifest.digest)
    return [Descriptor.from_json(doc["config"]),
            *(Descriptor.from_json(d) for d in doc["layers"])]

