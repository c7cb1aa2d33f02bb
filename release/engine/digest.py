"""Streaming file digests: flat memory whatever the file size."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1024 * 1024


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks (hashlib drops the GIL while hashing)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def file_digests(paths: Iterable[Path], algorithm: str = "sha256",
                 workers: int | None = None) -> list[str]:
    """Digests of several files, hashed in parallel on several cores."""
    items = list(paths)
    if len(items) <= 1:
        return [file_digest(p, algorithm) for p in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: file_digest(p, algorithm), items))
