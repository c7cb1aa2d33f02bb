"""Reading back what an index serves: the simple API's files and hashes, the integrity API.

The simple API is what pip reads, so it is what we check after an upload: PEP 691 JSON
when the index speaks it (PyPI), else PEP 503 HTML with ``#sha256=`` fragments
(pypiserver, devpi). The integrity API
(https://docs.pypi.org/api/integrity/) serves each file's PEP 740 provenance object.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import StageFailed
from release.filenames import PLAIN_NAME
from release.pypi.urls import check_url

if TYPE_CHECKING:
    from packaging.version import Version
    from pypi_attestations import Provenance

    from release.pypi.transport import IndexClient
    from release.pypi.urls import IndexUrls

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Largest distribution downloaded by ``release verify --pypi``.
MAX_FILE = 4 * 1024 ** 3


@dataclass(frozen=True)
class IndexFile:
    """One file the index lists: where it is and the sha256 the index states for it."""

    filename: str
    url: str
    sha256: str | None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def project_files(client: IndexClient, urls: IndexUrls, name: str) -> dict[str, IndexFile]:
    """Every file of a project, by file name; empty when the index has no such project."""
    page = urls.project_page(name)
    what = f"reading {page}"
    doc = client.get(page, accept=f"{SIMPLE_JSON}, text/html;q=0.1", what=what)
    if doc.status == 404:
        return {}
    if doc.status != 200:
        raise StageFailed(f"{what}: HTTP {doc.status} {doc.text(200)}",
                          "is index-url the index's simple API (…/simple/)?")
    found: list[IndexFile] = []
    if doc.content_type.split(";")[0].strip() == SIMPLE_JSON:
        data = doc.json(what)
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list):
            raise StageFailed(f"{what}: the PEP 691 answer has no list of files "
                              f"({type(files).__name__})", "is index-url a package index?")
        for entry in files:
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                hashes = entry.get("hashes")
                sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
                found.append(IndexFile(entry["filename"], _join(page, entry.get("url")),
                                       _hex(sha256)))
    else:
        parser = _Links()
        parser.feed(doc.body.decode("utf-8", "replace"))
        for href, text in parser.links:
            try:
                parts = urllib.parse.urlsplit(urllib.parse.urljoin(page, href))
            except ValueError:  # e.g. https://[::1/x: a FAIL of this file when downloaded
                found.append(IndexFile(text, href, None))
                continue
            fragment = urllib.parse.parse_qs(parts.fragment)
            filename = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1]) or text
            sha256 = fragment.get("sha256") or [""]
            found.append(IndexFile(filename, parts._replace(fragment="").geturl(),
                                   _hex(sha256[0])))
    for f in found:
        # a name becomes a path when the file is downloaded: a plain file name only
        if not PLAIN_NAME.match(f.filename):
            raise StageFailed(f"{what}: the index lists a file named {f.filename!r}, which "
                              "is not a plain file name", "this is not a package index to "
                              "trust; check index-url")
    return {f.filename: f for f in found}


def _join(page: str, url: Any) -> str:
    """``url`` resolved against ``page``; as given when it cannot be (``https://[::1/x``),
    so that downloading it fails for this file only, naming it."""
    text = url if isinstance(url, str) else ""
    try:
        return urllib.parse.urljoin(page, text)
    except ValueError:
        return text


def _checked_url(file: IndexFile, what: str) -> str:
    """The file's URL if it is https (http to loopback) without credentials, else a
    StageFailed naming the file (the index chose the URL)."""
    try:
        return check_url(file.url, f"the URL of {file.filename}")
    except ValueError as exc:
        raise StageFailed(f"{what} {file.filename}: {exc}",
                          "this is not a package index to trust") from None


def _hex(value: Any) -> str | None:
    text = str(value).lower() if isinstance(value, str) else None
    return text if text and _HEX64.match(text) else None


def file_release(filename: str) -> tuple[str, Version] | None:
    """``(canonical project name, version)`` of a wheel or sdist file name (PEP 427 /
    PEP 625), or None when the name is neither."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        name, version = parse_wheel_filename(filename)[:2] if filename.endswith(".whl") \
            else parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(name), version


def release_files(files: dict[str, IndexFile], version: str) -> dict[str, IndexFile]:
    """The files ``==version`` matches under PEP 440, as pip would pick them: a local
    version (``1.0.0+anything``) matches too, so it is part of the release. Their project
    names are not checked here (see :func:`file_release`)."""
    from packaging.specifiers import Specifier

    wanted = Specifier(f"=={version}")
    chosen = {}
    for name, f in files.items():
        parsed = file_release(name)
        if parsed is not None and wanted.contains(parsed[1], prereleases=True):
            chosen[name] = f
    return chosen


def provenance(client: IndexClient, urls: IndexUrls, name: str, version: str,
               filename: str) -> Provenance | None:
    """The file's PEP 740 provenance object, or None when it has none (404)."""
    from pydantic import ValidationError
    from pypi_attestations import Provenance

    url = urls.provenance(name, version, filename)
    what = f"reading the provenance of {filename}"
    doc = client.get(url, accept=INTEGRITY_JSON, what=what)
    if doc.status == 404:
        return None
    if doc.status != 200:
        raise StageFailed(f"{what}: HTTP {doc.status} {doc.text(200)}")
    try:
        return Provenance.model_validate_json(doc.body)
    except ValidationError as exc:
        raise StageFailed(f"{what}: not a PEP 740 provenance object "
                          f"({' '.join(str(exc).split())[:300]})") from None


def download(client: IndexClient, file: IndexFile, dest: Path) -> tuple[str, int]:
    """Stream ``file`` to ``dest`` (a new file), hashing as it arrives: ``(sha256, size)``."""
    _checked_url(file, "downloading")
    digest = hashlib.sha256()
    size = 0
    with client.stream(file.url, what=f"downloading {file.filename}") as resp:
        if resp.status_code != 200:
            raise StageFailed(f"downloading {file.filename}: HTTP {resp.status_code}")
        with dest.open("xb") as out:
            for chunk in resp.iter_bytes(1024 * 1024):
                size += len(chunk)
                if size > MAX_FILE:
                    raise StageFailed(f"{file.filename} is larger than {MAX_FILE} bytes")
                digest.update(chunk)
                out.write(chunk)
    return digest.hexdigest(), size


def remote_digest(client: IndexClient, file: IndexFile) -> str:
    """The sha256 of a listed file, hashed as it streams (nothing kept)."""
    _checked_url(file, "reading")
    digest = hashlib.sha256()
    with client.stream(file.url, what=f"reading {file.filename}") as resp:
        if resp.status_code != 200:
            raise StageFailed(f"reading {file.filename}: HTTP {resp.status_code}")
        for chunk in resp.iter_bytes(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
