"""Rendering a bundle: a header, then each certificate after a comment block, sorted.

Nothing in the output depends on the build's time, paths or order of the config:
the header carries the source commit and ``SOURCE_DATE_EPOCH``, and certificates
are sorted by subject, then fingerprint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from release.pem.certificate import CertificateFacts, colon_hex, printable


@dataclass(frozen=True)
class BundleHeader:
    """Facts about the release the bundle is part of."""

    title: str
    commit: str
    epoch: int
    version: str
    tag: str | None = None
    repository: str | None = None


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sort_key(cert: CertificateFacts) -> tuple[str, str]:
    return (cert.subject, cert.sha256)


def render(header: BundleHeader, certs: Sequence[tuple[str, CertificateFacts]]) -> str:
    """The bundle text; ``certs`` pairs each certificate with the label it had in the config."""
    date = iso(dt.datetime.fromtimestamp(header.epoch, dt.UTC))
    origin = header.repository or "(repository not declared)"
    lines = [
        "##",
        f"## {printable(header.title)}",
        "##",
        f"## Source: {printable(origin)} at commit {header.commit}"
        + (f" (tag {printable(header.tag)})" if header.tag else ""),
        f"## Version: {printable(header.version)}",
        f"## Source date: {date} (SOURCE_DATE_EPOCH={header.epoch}); every certificate "
        "is valid then",
        f"## Certificates: {len(certs)}, sorted by subject, then SHA-256 fingerprint",
        "##",
        "",
    ]
    for label, cert in sorted(certs, key=lambda item: sort_key(item[1])):
        lines += [
            f"# {printable(label)}",
            f"# Subject: {cert.subject}",
            f"# Issuer: {cert.issuer}",
            f"# Serial: 0x{cert.serial:x}",
            f"# Not Before: {iso(cert.not_before)}",
            f"# Not After: {iso(cert.not_after)}",
            f"# SHA-256 Fingerprint: {colon_hex(cert.sha256)}",
            cert.pem().rstrip("\n"),
            "",
        ]
    return "\n".join(lines)
