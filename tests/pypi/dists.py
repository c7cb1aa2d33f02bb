"""Small real distributions: a wheel (PEP 427, with RECORD) and an sdist (PEP 625 name,
PKG-INFO), deterministic, that pip and twine accept."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

README = """demo-pkg
========

A *demo* distribution for the publishing tests.
"""


def metadata(name: str = "demo-pkg", version: str = "1.0.0", *, description: str = README,
             content_type: str = "text/x-rst", extra: str = "") -> str:
    return (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: A demo package\nAuthor-email: Demo <demo@example.invalid>\n"
            "License: Apache-2.0\nRequires-Python: >=3.8\n"
            "Project-URL: Source, https://example.invalid/demo\n"
            "Classifier: Programming Language :: Python :: 3\n"
            f"{extra}Description-Content-Type: {content_type}\n\n{description}")


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(folder: Path, name: str = "demo-pkg", version: str = "1.0.0", *,
               meta: str | None = None, padding: int = 0) -> Path:
    """``demo_pkg-1.0.0-py3-none-any.whl``; ``padding`` bytes of incompressible data."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": b'"""demo"""\n',
        f"{dist_info}/METADATA": (meta or metadata(name, version)).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n",
    }
    if padding:
        files[f"{module}/blob.bin"] = _noise(padding)
    record = "\n".join(_record_line(p, d) for p, d in files.items())
    files[f"{dist_info}/RECORD"] = (record + f"\n{dist_info}/RECORD,,\n").encode()
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if padding else zipfile.ZIP_DEFLATED
                         ) as zf:
        for arc, data in files.items():
            info = zipfile.ZipInfo(arc, date_time=(2026, 1, 2, 3, 4, 5))
            zf.writestr(info, data)
    return path


def _noise(size: int) -> bytes:
    """Deterministic bytes that do not compress (so the wheel is ``size`` bytes larger)."""
    out = bytearray()
    block = hashlib.sha256(b"seed").digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 32 if len(out) + 1024 <= size else block
    return bytes(out[:size])


def make_sdist(folder: Path, name: str = "demo-pkg", version: str = "1.0.0", *,
               meta: str | None = None) -> Path:
    """``demo_pkg-1.0.0.tar.gz`` with PKG-INFO and pyproject.toml."""
    module = name.replace("-", "_")
    root = f"{module}-{version}"
    files = {
        f"{root}/PKG-INFO": (meta or metadata(name, version)).encode(),
        f"{root}/pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
        f"{root}/{module}/__init__.py": b'"""demo"""\n',
    }
    path = folder / f"{root}.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arc, data in files.items():
            info = tarfile.TarInfo(arc)
            info.size, info.mtime, info.mode = len(data), 1767323045, 0o644
            tf.addfile(info, io.BytesIO(data))
    import gzip

    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path
