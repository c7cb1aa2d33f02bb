"""An index's endpoints: upload, simple API, integrity API and trusted publishing.

Only ``https`` is accepted, except ``http`` to a loopback address (a test index on
127.0.0.1): a token or a distribution never crosses a network in clear text. URLs carry
no credentials, query or fragment: they are printed in plans and logs.

Derivations follow what PyPI serves and what pypa/gh-action-pypi-publish does: the
trusted-publishing endpoints live on the upload URL's host (``{scheme}://{host}/_/oidc/``),
and the read side of ``upload.pypi.org`` is ``pypi.org``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"
TESTPYPI_UPLOAD = "https://test.pypi.org/legacy/"
#: ``repository-url`` shorthands.
SHORTHANDS = {"pypi": PYPI_UPLOAD, "testpypi": TESTPYPI_UPLOAD}
#: The read side of PyPI's and TestPyPI's upload hosts.
_READ_HOSTS = {"upload.pypi.org": "pypi.org", "test.pypi.org": "test.pypi.org"}
PYPI_SIMPLE = "https://pypi.org/simple/"
#: The trusted-publishing audience of PyPI's and TestPyPI's upload hosts (fixed: an
#: index never chooses the audience of the OIDC token it receives).
KNOWN_AUDIENCES = {"upload.pypi.org": "pypi", "test.pypi.org": "testpypi"}


def configured_audience(repository_url: str, audience: str | None) -> str:
    """The OIDC audience trusted publishing requests for ``repository_url``.

    ``pypi``/``testpypi`` for PyPI/TestPyPI (``audience`` may only repeat it); the
    explicit ``audience`` for any other index. Sigstore's audience is always refused: a
    token for it would let the index sign as this workflow. Raises ValueError.
    """
    from release.signing.oidc import AUDIENCE as SIGSTORE

    upload = SHORTHANDS.get(repository_url, repository_url)
    host = (urllib.parse.urlsplit(upload).hostname or "").lower()
    known = KNOWN_AUDIENCES.get(host)
    if audience is not None and audience.strip().lower() == SIGSTORE:
        raise ValueError(f"audience {audience!r} is Sigstore's: a token for it signs as this "
                         "workflow; an index never gets one")
    if known is not None:
        if audience is not None and audience != known:
            raise ValueError(f"the trusted-publishing audience of {host} is {known!r}, not "
                             f"{audience!r}; remove `audience`")
        return known
    if audience is None:
        raise ValueError(f"trusted publishing to {upload} needs `audience:` (the value the "
                         "index's /_/oidc/audience documents): the audience of the job's "
                         "OIDC token comes from the pipeline, never from the index")
    return audience


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is an https URL (or http to loopback) with nothing secret in it.

    Raises ValueError with the reason (a pydantic validator turns it into a diagnostic
    at the key's ``file:line:col``).
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{what} {url!r} is not an https URL")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(f"{what} {url!r} is plain http: tokens and distributions would "
                         "cross the network unencrypted; use https (http is accepted only "
                         "for a loopback test index)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials: they would be printed in "
                         "plans and logs; give a token with `token-env`")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} {url!r} must have no query or fragment")
    return url


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(a: str, b: str) -> bool:
    return origin(a).lower() == origin(b).lower()


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True)
class IndexUrls:
    """Where to upload, where to read back, where to exchange tokens."""

    upload: str
    #: The simple API root (``.../simple/``): files and their sha256, as pip reads them.
    simple: str
    #: The root of ``/integrity/...`` and ``/pypi/.../json``.
    web: str
    #: The root of ``/_/oidc/audience`` and ``/_/oidc/mint-token``.
    oidc: str

    @classmethod
    def resolve(cls, repository_url: str, index_url: str | None = None) -> IndexUrls:
        upload = SHORTHANDS.get(repository_url, repository_url)
        parts = urllib.parse.urlsplit(upload)
        host = (parts.hostname or "").lower()
        if host in _READ_HOSTS:
            base = f"https://{_READ_HOSTS[host]}/"
        else:
            path = _slash(parts.path)
            path = path.removesuffix("legacy/")
            base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        if index_url is not None:
            simple = _slash(index_url)
            web = simple.removesuffix("simple/") if simple.endswith("/simple/") \
                else origin(simple) + "/"
        else:
            simple, web = base + "simple/", base
        return cls(upload=upload, simple=simple, web=web, oidc=origin(upload) + "/_/oidc/")

    def project_page(self, name: str) -> str:
        """The simple API page of a project (PEP 503 normalized name)."""
        from packaging.utils import canonicalize_name

        return f"{self.simple}{canonicalize_name(name)}/"

    def provenance(self, name: str, version: str, filename: str) -> str:
        """The integrity API's provenance object of one file."""
        quote = urllib.parse.quote
        return (f"{self.web}integrity/{quote(name, safe='')}/{quote(version, safe='')}/"
                f"{quote(filename, safe='')}/provenance")
