"""Image references (``registry/repository[:tag][@sha256:...]``) and registry hosts.

Grammar from the distribution project's reference package
(https://github.com/distribution/reference/blob/main/reference.go): the first path
component is a registry host only if it holds a ``.`` or ``:`` or is ``localhost``;
otherwise the image lives on Docker Hub, where one-component names sit under ``library/``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"  # noqa: E501
_REFERENCE = re.compile(
    rf"^(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_REPOSITORY = re.compile(rf"^(?P<host>{_HOST})/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Reference:
    """A parsed image reference; ``host`` is the registry as written (``docker.io`` if none)."""

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``text``; raises ValueError with a readable reason."""
        match = _REFERENCE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a valid image reference")
        host, path = match["host"], match["path"]
        if host is not None and not ("." in host or ":" in host or host == "localhost"):
            path, host = f"{host}/{path}", None
        if host is None:
            if any(c.isupper() for c in text.split("/", 1)[0]):
                raise ValueError(f"{text!r}: repository names are lowercase")
            host = DOCKER_HUB
            if "/" not in path:
                path = f"library/{path}"
        return cls(host, path, match["tag"], match["digest"])

    @property
    def api_host(self) -> str:
        """The host serving the registry API (Docker Hub's differs from its name)."""
        return _DOCKER_HUB_API if self.host in (DOCKER_HUB, "index.docker.io") else self.host

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_repository(text: str) -> tuple[str, str]:
    """``host/owner/name`` -> (host, repository); the host must be written out."""
    match = _REPOSITORY.match(text)
    if not match or not ("." in match["host"] or ":" in match["host"]
                         or match["host"] == "localhost"):
        raise ValueError(f"{text!r} is not a repository of the form host/owner/name "
                         "(lowercase; the registry host written out, e.g. ghcr.io/owner/name)")
    return match["host"], match["path"]


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` names this machine: 127.0.0.0/8, ``localhost`` or ``[::1]``."""
    name = host
    if name.startswith("["):
        name = name[1:name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def base_url(host: str) -> str:
    """The registry's root URL: plain HTTP only on loopback (tests), TLS everywhere else."""
    return f"{'http' if is_loopback(host) else 'https'}://{host}"
