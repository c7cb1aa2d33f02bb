"""GET a URL outside GitHub's API, with no credential, from public addresses only.

An attestation's ``bundle_url`` comes from GitHub's answer: it must not make this
machine query its own or its network's services, nor report what they answer.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from release.github.failures import GitHubRefused, RetryPolicy, TransientError
from release.github.urls import LOOPBACK, where

if TYPE_CHECKING:
    import httpx

#: A host spelled as numbers only: an IPv4 address in one of inet_aton's forms
#: (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``), never a DNS name.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def fetch_public(plain: httpx.Client, url: str, limit: int, *, api_host: str,
                 retry: RetryPolicy) -> bytes:
    """GET a URL outside GitHub's API (an attestation's ``bundle_url`` on blob
    storage) with ``plain``, a client that holds no credential, at most ``limit`` bytes.

    Only https is fetched, and only from a public address: the host (whatever its
    spelling: ``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``) and every address a
    DNS name resolves to must be global, and so must the address actually connected
    to (a name that resolves again elsewhere). Loopback, private, link-local,
    unspecified, reserved and multicast addresses are refused before any connection,
    except a loopback address when the API itself is on loopback (a local test
    server), and then over http too: a URL from GitHub's answer must not make this
    machine query its own or its network's services, nor report what they answer.
    """
    import httpx

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    local_api = is_loopback_host(api_host)
    if parts.scheme != "https" and not (parts.scheme == "http" and local_api):
        raise GitHubRefused(f"refusing to fetch {where(url)}: only https URLs are "
                            "fetched", None, 0)
    addresses = _public_addresses(url, host, local_api, retry)
    if parts.scheme != "https" and not (local_api and all(a.is_loopback
                                                          for a in addresses)):
        raise GitHubRefused(f"refusing to fetch {where(url)}: only https URLs are "
                            "fetched", None, 0)
    try:
        # no redirect: a bundle URL names its blob; a redirect could lead anywhere
        with plain.stream("GET", url, follow_redirects=False) as resp:
            peer = peer_address(resp)
            if peer is not None and refused_address(peer, local_api):
                # resolved again, to another address: say nothing of its answer
                raise GitHubRefused(f"refusing to fetch {where(url)}: it connected to "
                                    f"{peer}, {refused_address(peer, local_api)}",
                                    None, 0)
            if resp.status_code != 200:
                raise GitHubRefused(f"GET {where(url)} answered {resp.status_code}",
                                    None, resp.status_code)
            data = bytearray()
            for chunk in resp.iter_bytes(1 << 16):
                data += chunk
                if len(data) > limit:
                    raise GitHubRefused(f"GET {where(url)}: more than {limit} bytes",
                                        None, resp.status_code)
            return bytes(data)
    except httpx.HTTPError as exc:
        raise TransientError(f"GET {where(url)} failed: {type(exc).__name__}: {exc}",
                             retry_after=retry.delay(1), maybe_applied=False) from None

def _public_addresses(url: str, host: str, local_api: bool,
                      retry: RetryPolicy) -> list[Address]:
    """The addresses ``host`` names or resolves to; refused if any is not public."""
    try:
        addresses = host_addresses(host)
    except ValueError as exc:
        raise GitHubRefused(f"refusing to fetch {where(url)}: {exc}", None, 0) from None
    except OSError as exc:
        raise TransientError(f"GET {where(url)} failed: cannot resolve {host}: {exc}",
                             retry_after=retry.delay(1), maybe_applied=False) from None
    for address in addresses:
        why = refused_address(address, local_api)
        if why:
            named = "" if str(address) == host else f" (it resolves to {address})"
            raise GitHubRefused(f"refusing to fetch {where(url)}: {why}{named}", None, 0)
    return addresses

def is_loopback_host(host: str) -> bool:
    """Whether a configured host is this machine, by name or by loopback address."""
    if LOOPBACK.match(host):
        return True
    try:
        return all(a.is_loopback for a in _literal_addresses(host))
    except ValueError:
        return False


def _literal_addresses(host: str) -> list[Address]:
    """The address a host spelled as an IP address names (ValueError for a DNS name)."""
    host = host.split("%", 1)[0]  # an IPv6 zone
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:  # the forms inet_aton (and so a resolver or browser) reads as IPv4
            return [ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))]
        except OSError:
            raise ValueError(f"{host!r} is not a valid address") from None
    raise ValueError(f"{host!r} is a name")


def host_addresses(host: str) -> list[Address]:
    """Every address ``host`` stands for: its literal address, or what DNS resolves it to.

    ValueError for a host that is no usable name; OSError when it does not resolve."""
    if not host:
        raise ValueError("no host")
    try:
        return _literal_addresses(host)
    except ValueError as exc:
        if _NUMERIC_HOST.match(host) or host.startswith("["):
            raise ValueError(str(exc)) from None
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]  # RFC 6761: always this machine
    found = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
             for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    if not found:
        raise OSError("no address")
    return sorted(found, key=str)


def refused_address(address: Address, local_api: bool) -> str:
    """Why a fetch must not go to ``address`` (empty when it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return refused_address(inner, local_api)
    if address.is_loopback:
        return "" if local_api else "a loopback address"
    for what, flag in (("an unspecified address", address.is_unspecified),
                       ("a link-local address", address.is_link_local),
                       ("a multicast address", address.is_multicast),
                       ("a private address", address.is_private),
                       ("a reserved address", address.is_reserved)):
        if flag:
            return what
    if not address.is_global:
        return "not a public address"
    return ""


def peer_address(resp: httpx.Response) -> Address | None:
    """The address the response came from, when the transport tells it."""
    stream = resp.extensions.get("network_stream")
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        return ipaddress.ip_address(str(peer[0]).split("%", 1)[0]) if peer else None
    except (ValueError, TypeError, IndexError, AttributeError):
        return None
