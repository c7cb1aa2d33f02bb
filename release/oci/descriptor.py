"""Media types, content descriptors, platforms and the JSON encoding of OCI documents."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (INDEX, DOCKER_LIST)
#: Docker's schema 2 types and their OCI twins: the bytes are the same, only the label
#: differs (https://github.com/opencontainers/image-spec/blob/main/media-types.md).
TO_OCI = {DOCKER_MANIFEST: MANIFEST, DOCKER_LIST: INDEX, DOCKER_CONFIG: CONFIG,
          DOCKER_LAYER: LAYER_GZIP}

#: Platforms an image may be built for: ``os/arch[/variant]`` as in the image index
#: (https://github.com/opencontainers/image-spec/blob/main/image-index.md), limited to
#: the Linux ones Go's GOOS/GOARCH pairs and the common registries serve.
KNOWN_PLATFORMS = (
    "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6",
    "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le",
    "linux/loong64",
)

#: Annotation carrying the manifest or index digest of a built image.
DIGEST_ANNOTATION = "org.opencontainers.image.digest"

#: A sha256 digest as OCI writes it; anything else (e.g. a path) is refused.
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def canonical_json(data: Any) -> bytes:
    """The one byte encoding we write: sorted keys, no spaces, UTF-8, finite numbers."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def load_json(data: bytes | str) -> Any:
    """JSON a registry served: ValueError for anything we could not use, print or write
    back, as for malformed JSON: nested too deep to parse, ``NaN``/``Infinity`` or a
    number beyond a float (``1e400``), a string with a lone surrogate (``"\\ud800"``)."""
    try:
        doc = json.loads(data, parse_constant=_not_a_number, parse_float=_finite)
        canonical_json(doc)  # a lone surrogate has no UTF-8 encoding: UnicodeEncodeError
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return doc


def _not_a_number(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is beyond a float")
    return value


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` of one image."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if text not in KNOWN_PLATFORMS or len(parts) not in (2, 3):
            raise ValueError(f"unknown platform {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        data = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            data["variant"] = self.variant
        return data

    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether an index entry's ``platform`` object is this platform."""
        if data.get("os") != self.os or data.get("architecture") != self.architecture:
            return False
        theirs = data.get("variant")
        # arm64 images often omit the only variant there is (v8)
        if self.architecture == "arm64" and {theirs, self.variant} <= {None, "v8"}:
            return True
        return theirs == self.variant


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content by digest (https://github.com/opencontainers/image-spec/blob/main/descriptor.md)."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                                "size": self.size}
        if self.platform:
            data["platform"] = self.platform.to_json()
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        """Read a descriptor from a manifest; raises ValueError on a malformed one."""
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not SHA256_DIGEST.fullmatch(digest) \
                or not isinstance(size, int) or size < 0:
            raise ValueError(f"malformed descriptor {dict(data)!r}")
        plat = data.get("platform")
        platform = None
        if isinstance(plat, Mapping) and plat.get("os") and plat.get("architecture"):
            platform = Platform(str(plat["os"]), str(plat["architecture"]),
                                str(plat["variant"]) if plat.get("variant") else None)
        notes = data.get("annotations") or {}
        return cls(str(data.get("mediaType", "")), digest, size, platform,
                   {str(k): str(v) for k, v in dict(notes).items()})
