"""Fingerprint pins: a certificate's expected digests, by algorithm.

``sha256`` is preferred; ``sha384`` and ``sha512`` are accepted, and ``sha1`` too, for
configurations written for tools that pinned by SHA-1 (tpm-ca-certificates accepts it),
with a warning: SHA-1 collisions are practical (https://shattered.io), so a SHA-1 pin
alone does not bind a certificate. Several pins may be given; all must match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Digest size in bytes, in the order pins are shown (strongest preferred first, SHA-1 last).
SIZES = {"sha256": 32, "sha384": 48, "sha512": 64, "sha1": 20}
_BY_SIZE = {size: name for name, size in SIZES.items()}
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_PAIRS = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*$")
WEAK = "sha1"


class InvalidPin(ValueError):
    """A pin that is not a digest of its algorithm; the message says what is wrong."""


def parse_pin(algorithm: object, value: object) -> str:
    """``AB:CD:...`` or ``abcd...`` -> lowercase hex, checked against the algorithm's size."""
    if not isinstance(algorithm, str) or algorithm not in SIZES:
        shown = algorithm if isinstance(algorithm, str) else type(algorithm).__name__
        raise InvalidPin(f"unknown fingerprint algorithm {str(shown)[:40]!r}: use sha256 "
                         "(preferred), sha384, sha512 or sha1")
    if not isinstance(value, str):
        raise InvalidPin(f"a {label(algorithm)} fingerprint is a string of hex digits, not "
                         f"{type(value).__name__}")
    text = value.strip()
    if ":" in text:
        if not _PAIRS.match(text):
            raise InvalidPin(f"a {label(algorithm)} fingerprint with colons is pairs of hex "
                             "digits separated by single colons (AB:CD:...)")
        text = text.replace(":", "")
    elif not _HEX.match(text):
        raise InvalidPin(f"a {label(algorithm)} fingerprint holds only hex digits (0-9, "
                         "A-F), optionally in colon-separated pairs")
    size = SIZES[algorithm]
    if len(text) != 2 * size:
        got = len(text) // 2 if len(text) % 2 == 0 else None
        guess = _BY_SIZE.get(got) if got else None
        looks = f"; it looks like a {label(guess)} fingerprint" if guess else ""
        raise InvalidPin(f"a {label(algorithm)} fingerprint is {size} bytes ({2 * size} hex "
                         f"digits), this one has {len(text)} hex digits{looks}")
    return text.lower()


def label(algorithm: str | None) -> str:
    """``sha256`` -> ``SHA-256``."""
    return (algorithm or "").upper().replace("SHA", "SHA-")


@dataclass(frozen=True)
class Pins:
    """The digests one certificate must have: algorithm -> lowercase hex, at least one."""

    digests: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, values: Mapping[Any, object]) -> Pins:
        """Pins from a mapping of algorithm to fingerprint text; :class:`InvalidPin` if bad."""
        if not values:
            raise InvalidPin("pin at least one fingerprint: sha256 (preferred), sha384, "
                             "sha512 or sha1")
        parsed = {str(alg): parse_pin(alg, value) for alg, value in values.items()}
        return cls(tuple((alg, parsed[alg]) for alg in SIZES if alg in parsed))

    @property
    def strongest(self) -> tuple[str, str]:
        """The pin to show first: SHA-256 when there is one, else the strongest."""
        return self.digests[0]

    @property
    def has_sha1(self) -> bool:
        return any(alg == WEAK for alg, _ in self.digests)

    @property
    def only_sha1(self) -> bool:
        return [alg for alg, _ in self.digests] == [WEAK]

    def mismatches(self, digest_of: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """``(algorithm, pinned, actual)`` for every pin the actual digests do not match."""
        return [(alg, pinned, digest_of[alg]) for alg, pinned in self.digests
                if digest_of[alg] != pinned]

    def warning(self) -> str | None:
        """What to say about a SHA-1 pin, or ``None``."""
        if self.only_sha1:
            return ("pinned by SHA-1 alone, which is weak (SHA-1 collisions are practical): "
                    "add a sha256 pin")
        if self.has_sha1:
            return ("carries a SHA-1 pin, which is weak; it is checked, but the other pins "
                    "are what bind the certificate")
        return None
