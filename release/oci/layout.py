"""OCI image layouts on disk and as a deterministic tar (what ``oci-archive:`` reads).

Layout format: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from release.oci.descriptor import (
    INDEX,
    SHA256_DIGEST,
    Descriptor,
    canonical_json,
    sha256_digest,
)
from release.oci.layer import LayerFile, write_tar

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
FILE_MODE = 0o644


class Layout:
    """A layout directory: content-addressed blobs and an ``index.json`` naming the images."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / LAYOUT_FILE).write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))

    def blob_path(self, digest: str) -> Path:
        if not SHA256_DIGEST.fullmatch(digest):
            raise ValueError(f"unsupported digest {digest!r}")
        algorithm, _, hexpart = digest.partition(":")
        return self.root / "blobs" / algorithm / hexpart

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def add_bytes(self, data: bytes, media_type: str, **extra: Any) -> Descriptor:
        """Store ``data`` and return its descriptor."""
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return Descriptor(media_type, digest, len(data), **extra)

    def add_file(self, source: Path, digest: str) -> Path:
        """Move an already-verified file into the blob store under its digest."""
        path = self.blob_path(digest)
        source.replace(path)
        return path

    def read_json(self, digest: str) -> Any:
        return json.loads(self.blob_path(digest).read_bytes())

    def write_index(self, manifests: Iterable[Descriptor]) -> None:
        index = {"schemaVersion": 2, "mediaType": INDEX,
                 "manifests": [d.to_json() for d in manifests]}
        (self.root / INDEX_FILE).write_bytes(canonical_json(index))

    def index(self) -> list[Descriptor]:
        data = json.loads((self.root / INDEX_FILE).read_bytes())
        return [Descriptor.from_json(d) for d in data.get("manifests", [])]

    def files(self) -> list[str]:
        """Every file of the layout, relative, in archive order."""
        blobs = sorted(p.name for p in (self.root / "blobs" / "sha256").iterdir())
        return [*(f"blobs/sha256/{b}" for b in blobs), INDEX_FILE, LAYOUT_FILE]


def write_archive(layout: Layout, dest: Path, *, mtime: int) -> None:
    """Tar the layout deterministically (sorted, mtime fixed, owner 0, mode 0644/0755)."""
    entries = [LayerFile("/" + rel, layout.root / rel, FILE_MODE) for rel in layout.files()]
    with dest.open("wb") as out:
        write_tar(entries, out, mtime=mtime)
