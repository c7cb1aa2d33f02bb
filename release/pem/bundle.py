"""Rendering a bundle: a header, then each certificate after a comment block, sorted.

Nothing in the output depends on the build's time, paths or the order of the config:
the header carries the source commit and ``SOURCE_DATE_EPOCH``. Certificates listed in
the pipeline are sorted by subject, then fingerprint. Certificates from a
``certificates-file`` are sorted by vendor ID, then name, each under the comment block
of tpm-ca-certificates' bundles (docs/specifications/04-tpm-trust-bundle-format.md:
``Certificate``, ``Owner``, ``Issuer``, ...), whose ``## Date:`` and ``## Commit:``
header lines that project's SDK reads too. The PEM blocks carry each certificate's
exact bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from release.pem.certificate import CertificateFacts, colon_hex
from release.pem.entry import CertificateSource
from release.terminal import printable

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")

Listed = tuple[CertificateSource, CertificateFacts]


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


def go_date(when: dt.datetime) -> str:
    """``Mon Jan 02 15:04:05 2006`` in UTC, as Go's time layout writes it (no locale)."""
    utc = when.astimezone(dt.UTC)
    return (f"{_DAYS[utc.weekday()]} {_MONTHS[utc.month - 1]} {utc.day:02d} "
            f"{utc:%H:%M:%S} {utc.year:04d}")


def render(header: BundleHeader, certs: Sequence[Listed], *, by_vendor: bool = False) -> str:
    """The bundle text: ``by_vendor`` for entries of a certificates file."""
    date = dt.datetime.fromtimestamp(header.epoch, dt.UTC)
    origin = header.repository or "(repository not declared)"
    order = "vendor ID, then name" if by_vendor else "subject, then SHA-256 fingerprint"
    lines = [
        "##",
        f"## {printable(header.title)}",
        "##",
        f"## Date: {date:%Y-%m-%d}",
        f"## Commit: {header.commit}",
        "##",
        f"## Source: {printable(origin)} at commit {header.commit}"
        + (f" (tag {printable(header.tag)})" if header.tag else ""),
        f"## Version: {printable(header.version)}",
        f"## Source date: {iso(date)} (SOURCE_DATE_EPOCH={header.epoch}); every certificate "
        "is valid then",
        f"## Certificates: {len(certs)}, sorted by {order}",
        "##",
        "",
    ]
    if by_vendor:
        ordered = sorted(certs, key=lambda c: (c[0].owner or "", c[0].name or "", c[1].sha256))
        blocks = [_vendor_block(source, cert) for source, cert in ordered]
        return "\n".join([*lines, *blocks])  # an empty line after the header and each block
    for source, cert in sorted(certs, key=lambda c: (c[1].subject, c[1].sha256)):
        lines += [
            f"# {printable(source.name or cert.subject)}",
            f"# Subject: {cert.subject}",
            f"# Issuer: {cert.issuer}",
            f"# Serial: {_hex(cert.serial)}",
            f"# Not Before: {iso(cert.not_before)}",
            f"# Not After: {iso(cert.not_after)}",
            f"# SHA-256 Fingerprint: {colon_hex(cert.sha256)}",
            cert.pem().rstrip("\n"),
            "",
        ]
    return "\n".join(lines)


def _vendor_block(source: CertificateSource, cert: CertificateFacts) -> str:
    """One certificate as tpm-ca-certificates' generator writes it."""
    return "\n".join([
        "#",
        f"# Certificate: {printable(source.name or cert.subject)}",
        f"# Owner: {printable(source.owner or '')}",
        "#",
        f"# Issuer: {cert.issuer}",
        f"# Serial Number: {cert.serial} ({_hex(cert.serial)})",
        f"# Subject: {cert.subject}",
        f"# Not Valid Before: {go_date(cert.not_before)}",
        f"# Not Valid After : {go_date(cert.not_after)}",
        f"# Fingerprint (SHA-256): {colon_hex(cert.sha256)}",
        f"# Fingerprint (SHA1): {colon_hex(cert.digest('sha1'))}",
        cert.pem(),
    ])


def _hex(value: int) -> str:
    """``0x1d``; a negative serial (some old roots have one) as ``-0x5``, as Go prints it."""
    return f"-0x{-value:x}" if value < 0 else f"0x{value:x}"
