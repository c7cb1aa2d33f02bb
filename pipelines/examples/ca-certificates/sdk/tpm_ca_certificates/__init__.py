"""Read the example CA bundle: each certificate as a PEM block."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DEFAULT_BUNDLE", "load", "pem_blocks"]

#: Where the example's container image puts the bundle.
DEFAULT_BUNDLE = Path("/etc/ssl/certs/ca-bundle.pem")
_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\n.+?\n-----END CERTIFICATE-----\n?",
                    re.DOTALL)


def pem_blocks(text: str) -> list[str]:
    """The PEM certificates of a bundle, in order, comments dropped."""
    return [m.group(0).rstrip("\n") + "\n" for m in _BLOCK.finditer(text)]


def load(path: Path = DEFAULT_BUNDLE) -> list[str]:
    """The PEM certificates of the bundle at ``path``."""
    return pem_blocks(path.read_text(encoding="utf-8"))
