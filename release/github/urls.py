"""URLs of GitHub's REST API: where a token may go, and URL text for messages.

:class:`Endpoint` is a configured API (or uploads) host with its path prefix; the
helpers match an operation's path template, read ``Link`` headers (RFC 8288) and print
a URL without its query or credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from release.errors import UsageError

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK = re.compile(r"^(?:127(?:\.\d{1,3}){3}|::1|localhost)$")


def api_url(environ: Mapping[str, str]) -> str:
    """``GITHUB_API_URL`` (set by Actions and by GitHub Enterprise Server users) or github.com."""
    return (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


@dataclass(frozen=True)
class Endpoint:
    """Where a scoped client may send its token: scheme, host, port and path prefix.

    ``port`` None means any port of ``host`` (only for a loopback API's uploads host).
    """

    scheme: str
    host: str
    port: int | None
    prefix: str

    @classmethod
    def parse(cls, url: str, what: str = "GITHUB_API_URL") -> Endpoint:
        """An endpoint from a configured URL; anything but a plain http(s) URL is refused."""
        parts = urlsplit(url.rstrip("/"))
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1 \
                or parts.username is not None or parts.query or parts.fragment:
            raise UsageError(f"{what} {url!r} is not an http(s) URL of a GitHub API",
                             "for example https://api.github.com or https://HOST/api/v3")
        return cls(parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme],
                   parts.path.rstrip("/"))

    def uploads(self) -> Endpoint:
        """The uploads host of this API host, as GitHub lays them out.

        github.com and GHE.com: ``api.HOST`` -> ``uploads.HOST``; GitHub Enterprise Server:
        ``HOST/api/v3`` -> ``HOST/api/uploads``
        (https://docs.github.com/en/enterprise-server@latest/rest/releases/assets#upload-a-release-asset).
        A loopback API (a local test server or proxy) may serve uploads on another port of
        the same loopback address; any other API URL gets its uploads on its own host.
        """
        if self.host.startswith("api.") and not self.prefix:
            return Endpoint(self.scheme, "uploads." + self.host[4:], self.port, "")
        if self.prefix.endswith("/api/v3"):
            return Endpoint(self.scheme, self.host, self.port,
                            self.prefix.removesuffix("/v3") + "/uploads")
        if LOOPBACK.match(self.host):
            return Endpoint(self.scheme, self.host, None, self.prefix)
        return self

    def describe(self) -> str:
        port = "" if self.port == DEFAULT_PORTS.get(self.scheme) else \
            ":*" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.prefix}"


def path_pattern(path: str) -> re.Pattern[str]:
    """A regex for an operation's path template: ``{tag}`` may span segments."""
    out = []
    for segment in path.split("/"):
        name = segment[1:-1] if segment.startswith("{") and segment.endswith("}") else None
        if name is None:
            out.append(re.escape(segment))
        elif name == "tag":
            out.append(r"(?P<tag>[^/?#]+(?:/[^/?#]+)*)")
        else:
            out.append(rf"(?P<{name}>[^/?#]+)")
    return re.compile("^" + "/".join(out) + "$")


def next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (RFC 8288), if any."""
    for part in header.split(","):
        url, _, params = part.partition(";")
        rels = [p.split("=", 1)[1].strip().strip('"').split() for p in params.split(";")
                if p.strip().lower().startswith("rel=")]
        if any("next" in r for r in rels):
            return url.strip().removeprefix("<").removesuffix(">")
    return None


def page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None


def where(url: str) -> str:
    """Host, port and path of a URL, for messages (no query, no credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


def url_path(url: str) -> str:
    """The path of a URL, for messages (no host, no query: nothing secret)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else url
