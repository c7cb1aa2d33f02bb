"""One certificate of a bundle, wherever it was listed: where it comes from and its pins.

Entries come from the pipeline's ``certificates:`` list or from a ``certificates-file:``
in tpm-ca-certificates' format; both end up as :class:`CertificateSource`, and both
check paths and addresses with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from release.pem.pins import Pins

_URL = re.compile(r"^https://[^/\s?#@]+(/\S*)?$")


def check_path(value: str) -> str:
    """A path relative to ``source.path`` that stays inside it; ValueError if not."""
    if not value or value.startswith("/") or ".." in value.split("/") or "\\" in value \
            or "\0" in value:
        raise ValueError("a certificate path is relative to the released folder "
                         "(`source.path`) and stays inside it (no leading '/', no '..')")
    return value


def check_url(value: str) -> str:
    """An ``https://`` address without credentials; ValueError if not."""
    if not _URL.match(value):
        raise ValueError("a certificate url must be an https:// address")
    return value


@dataclass(frozen=True)
class CertificateSource:
    """A certificate to fetch or read, check against its pins and put in the bundle."""

    #: How errors and logs name the entry, e.g. ``certificates[0] 'Root' (certs/a.pem)``.
    label: str
    #: The name printed in the bundle (``None``: the certificate's subject).
    name: str | None
    pins: Pins
    path: str | None = None
    url: str | None = None
    #: The vendor ID (``Owner:``) and vendor name, from a certificates file.
    owner: str | None = None
    vendor: str | None = None
    allow_non_ca: bool = False

    @property
    def origin(self) -> str:
        return self.url if self.url is not None else self.path or ""
