"""A small OCI distribution client on httpx: exactly the calls a release needs.

Calls (https://github.com/opencontainers/distribution-spec/blob/main/spec.md):
manifests by digest or tag (GET/HEAD/PUT), blobs (HEAD, streamed GET), and blob
uploads, monolithic (POST then PUT) or chunked (POST, PATCH..., PUT). Every byte
read is checked against the digest it was asked for before anyone uses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from release.errors import IntegrityError
from release.oci.auth import Credentials
from release.oci.bounded import chunks_within
from release.oci.descriptor import (
    INDEX,
    INDEX_TYPES,
    MANIFEST_TYPES,
    SHA256_DIGEST,
    Descriptor,
    sha256_digest,
)
from release.oci.transport import RegistryTransport
from release.terminal import printable

#: Larger manifests are refused, as the reference registry does (4 MiB).
MAX_MANIFEST = 4 * 1024 * 1024
#: Bytes per second below which a blob download counts as stalled (2 Mbit/s).
MIN_BLOB_RATE = 256 * 1024
#: Pages of a referrers list read at most.
MAX_PAGES = 20
#: Blobs up to this size go up in one request; larger ones in chunks of this size.
CHUNK = 16 * 1024 * 1024
_ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))


class Registry(RegistryTransport):
    """One repository on one registry, with credentials for ``actions`` (pull or pull,push)."""

    def __init__(self, host: str, repository: str, *, push: bool = False,
                 credentials: Credentials | None = None, timeout: float = 120.0,
                 chunk_size: int = CHUNK) -> None:
        super().__init__(host, repository, push=push, credentials=credentials,
                         timeout=timeout)
        self.chunk_size = chunk_size

    # -- manifests -----------------------------------------------------------------
    def get_manifest(self, reference: str) -> tuple[bytes, str]:
        """The exact bytes and media type of a manifest or index."""
        resp, data = self._call("GET", f"{self.prefix}/manifests/{reference}",
                                headers={"Accept": _ACCEPT}, limit=MAX_MANIFEST)
        if reference.startswith("sha256:") and sha256_digest(data) != reference:
            raise IntegrityError(
                f"manifest {reference} of {self.where} was served with digest "
                f"{sha256_digest(data)}: tampered or corrupt", "do not use this registry's copy")
        return data, resp.headers.get("Content-Type", "").split(";")[0].strip()

    def manifest_digest(self, reference: str) -> str | None:
        """The digest a tag points to (``HEAD``), or None when the tag does not exist.

        Only the form is checked here (a sha256 digest, never a path); whoever reads the
        manifest reads it by this digest, and :meth:`get_manifest` checks the content."""
        resp, _ = self._call("HEAD", f"{self.prefix}/manifests/{reference}",
                             headers={"Accept": _ACCEPT}, ok=(200, 404))
        if resp.status_code != 200:
            return None
        digest = str(resp.headers.get("Docker-Content-Digest", ""))
        if not SHA256_DIGEST.fullmatch(digest):
            raise IntegrityError(f"{self.where} answered {reference} with the digest "
                                 f"{digest[:80]!r}, not a sha256 digest",
                                 "the registry is broken or hostile; name the image by "
                                 "digest (@sha256:...)")
        return digest

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str | None:
        """Store a manifest; returns the ``OCI-Subject`` header, which a registry with the
        referrers API sends when it indexed the manifest's ``subject``."""
        resp, _ = self._call("PUT", f"{self.prefix}/manifests/{reference}", content=data,
                             headers={"Content-Type": media_type}, ok=(201,))
        echoed = resp.headers.get("Docker-Content-Digest")
        if echoed and echoed != sha256_digest(data):
            raise IntegrityError(f"{self.where} stored manifest {reference} as {echoed}, "
                                 f"not {sha256_digest(data)}")
        subject: str | None = resp.headers.get("OCI-Subject")
        return subject

    def referrers(self, digest: str) -> list[bytes] | None:
        """The referrers API's index for ``digest``, page by page (``Link: <...>;
        rel="next"``, at most :data:`MAX_PAGES`), or None when the registry has no API
        (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers)."""
        url: str | None = f"{self.prefix}/referrers/{digest}"
        pages: list[bytes] = []
        while url is not None:
            if len(pages) == MAX_PAGES:
                raise IntegrityError(f"the referrers of {digest} at {self.where} run to more "
                                     f"than {MAX_PAGES} pages")
            resp, data = self._call("GET", url, ok=(200, 400, 404, 405),
                                    headers={"Accept": INDEX}, limit=MAX_MANIFEST)
            kind = resp.headers.get("Content-Type", "").split(";")[0].strip()
            if (resp.status_code != 200 or kind != INDEX) and pages:
                raise IntegrityError(f"page {len(pages) + 1} of the referrers of {digest} at "
                                     f"{self.where} is not an index (HTTP {resp.status_code})")
            if resp.status_code != 200 or kind != INDEX:
                return None
            pages.append(data)
            following = resp.links.get("next", {}).get("url")
            try:
                url = urljoin(str(resp.request.url), following) if following else None
                host = urlsplit(url).netloc if url is not None else None
            except ValueError as exc:
                raise self._unusable(f"the next page of the referrers of {digest} it links",
                                     exc) from None
            if host is not None and host != resp.request.url.netloc.decode():
                raise IntegrityError(
                    f"page {len(pages)} of the referrers of {digest} at {self.where} links "
                    f"the next page on another host ({printable(host[:100])}); refused",
                    "a registry lists referrers on its own host; this one is broken or "
                    "hostile")
        return pages

    # -- blobs ---------------------------------------------------------------------
    def has_blob(self, desc: Descriptor) -> bool:
        resp, _ = self._call("HEAD", f"{self.prefix}/blobs/{desc.digest}", ok=(200, 404))
        length = resp.headers.get("Content-Length")
        return resp.status_code == 200 and (length is None or int(length) == desc.size)

    def fetch_blob(self, desc: Descriptor, dest: Path, what: str) -> None:
        """Stream a blob to ``dest``; its size and sha256 must be the descriptor's."""
        sha, size = hashlib.sha256(), 0
        # httpx's read timeout bounds each read only: a registry sending a byte a minute
        # would hold the job for ever; below MIN_BLOB_RATE a download counts as stalled
        seconds = (self.client.timeout.read or 0) + desc.size / MIN_BLOB_RATE
        try:
            with self._stream("GET", f"{self.prefix}/blobs/{desc.digest}") as resp:
                self._check(resp, "GET", f"blob {desc.digest}", (200,))
                with dest.open("wb") as out:
                    for chunk in chunks_within(resp, seconds, f"blob {desc.digest}"):
                        size += len(chunk)
                        if size > desc.size:
                            break
                        sha.update(chunk)
                        out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)  # no part of a blob is left to be taken for it
            raise
        found = "sha256:" + sha.hexdigest()
        if size != desc.size or found != desc.digest:
            dest.unlink(missing_ok=True)
            got = f"more than {desc.size} bytes" if size > desc.size else \
                f"{size} bytes with digest {found}"
            raise IntegrityError(
                f"blob {desc.digest} ({what}) from {self.where} does not match its digest: "
                f"expected {desc.size} bytes, got {got}; tampered or corrupt",
                "the registry served different bytes than the pinned manifest names")

    def get_blob(self, desc: Descriptor, what: str) -> bytes:
        """A small blob (at most 4 MiB) in memory, checked against its size and digest."""
        if desc.size > MAX_MANIFEST:
            raise IntegrityError(f"blob {desc.digest} ({what}) at {self.where} is larger "
                                 "than 4 MiB")
        _, data = self._call("GET", f"{self.prefix}/blobs/{desc.digest}", limit=desc.size)
        if len(data) != desc.size or sha256_digest(data) != desc.digest:
            raise IntegrityError(
                f"blob {desc.digest} ({what}) from {self.where} does not match its digest; "
                "tampered or corrupt", "the registry served different bytes than the "
                "manifest names")
        return data

    def upload_bytes(self, data: bytes, desc: Descriptor) -> None:
        """Upload a small blob held in memory, unless the registry has it already."""
        if self.has_blob(desc):
            return
        resp, _ = self._call("POST", f"{self.prefix}/blobs/uploads/", ok=(202,))
        location = self._location(resp)
        sep = "&" if "?" in location else "?"
        self._call("PUT", f"{location}{sep}digest={desc.digest}", content=data, ok=(201,),
                   headers={"Content-Type": "application/octet-stream"})

    def upload_blob(self, path: Path, desc: Descriptor) -> None:
        """Upload ``path`` as ``desc``: one request when small, chunks when large."""
        resp, _ = self._call("POST", f"{self.prefix}/blobs/uploads/", ok=(202,))
        location = self._location(resp)
        with path.open("rb") as f:
            if desc.size > self.chunk_size:
                offset = 0
                for chunk in iter(lambda: f.read(self.chunk_size), b""):
                    end = offset + len(chunk) - 1
                    resp, _ = self._call("PATCH", location, content=chunk, ok=(202,), headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end}", "Content-Length": str(len(chunk))})
                    location, offset = self._location(resp), end + 1
                body = b""
            else:
                body = f.read()
        sep = "&" if "?" in location else "?"
        self._call("PUT", f"{location}{sep}digest={desc.digest}", content=body, ok=(201,),
                   headers={"Content-Type": "application/octet-stream"})

