"""The legacy upload API: one multipart ``POST`` per file, streamed from disk, with retries.

Fields as https://docs.pypi.org/api/upload/ lists them (``:action=file_upload``,
``protocol_version=1``, the core metadata, ``sha256_digest``, ``filetype``,
``pyversion``, and ``attestations`` as a JSON array), then the file as ``content``.
The body is produced chunk by chunk with an exact ``Content-Length`` (some indexes
refuse chunked uploads), so memory stays flat whatever the file's size.

Retries: a 5xx or a broken connection is retried with backoff, re-reading the file
from the start; a 4xx never is (the index said no, and will say it again). A file the
index already holds is reported as :data:`EXISTS` for the caller to compare by digest:
warehouse answers 400 "File already exists" for a different file of that name (and 200
for an identical one), pypiserver 409.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from release.errors import StageFailed
from release.pypi.transport import describe, refuse_redirect

if TYPE_CHECKING:
    from release.pypi.distmeta import DistFile
    from release.pypi.transport import IndexClient

CHUNK = 1024 * 1024
#: Seconds to wait before each retry; len() + 1 attempts in all.
BACKOFF = (0.5, 2.0, 5.0, 10.0)
RETRY_STATUS = frozenset({500, 502, 503, 504})
UPLOADED, EXISTS = "uploaded", "exists"
_EXISTS_TEXT = re.compile(r"already exists", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """How an upload ended: :data:`UPLOADED` or :data:`EXISTS`, after ``attempts`` tries."""

    status: str
    attempts: int
    seconds: float
    message: str = ""


class MultipartBody:
    """``multipart/form-data``: the fields, then the file as ``content``, streamed."""

    def __init__(self, fields: Sequence[tuple[str, str]], dist: DistFile,
                 cancelled: Callable[[], bool] = lambda: False) -> None:
        self.boundary = "release-" + secrets.token_hex(16)
        self.dist = dist
        self.cancelled = cancelled
        if any(self.boundary in value for _, value in fields):  # pragma: no cover
            raise StageFailed("multipart boundary collision (128 random bits); retry")
        head = bytearray()
        for name, value in fields:
            head += self._part(name) + b"\r\n" + value.encode("utf-8") + b"\r\n"
        head += self._part("content", dist.filename) + \
            b"Content-Type: application/octet-stream\r\n\r\n"
        self.head = bytes(head)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.sent = 0

    def _part(self, name: str, filename: str | None = None) -> bytes:
        quoted = name.replace('"', "%22")
        disposition = f'Content-Disposition: form-data; name="{quoted}"'
        if filename is not None:
            disposition += f'; filename="{filename.replace(chr(34), "%22")}"'
        return f"--{self.boundary}\r\n{disposition}\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self.head) + self.dist.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        self.sent = 0
        yield self.head
        with self.dist.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                if self.cancelled():
                    raise StageFailed("cancelled during the upload")
                self.sent += len(chunk)
                yield chunk
        if self.sent != self.dist.size:
            raise StageFailed(f"{self.dist.filename} changed size while uploading "
                              f"({self.dist.size} recorded, {self.sent} read)")
        yield self.tail


def upload_file(client: IndexClient, url: str, dist: DistFile, fields: Sequence[tuple[str, str]],
                *, log: Callable[[str], None], cancelled: Callable[[], bool] = lambda: False,
                backoff: Sequence[float] | None = None) -> Outcome:
    """POST one distribution; retry 5xx and broken connections, never a 4xx."""
    import httpx

    backoff = BACKOFF if backoff is None else backoff

    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        body = MultipartBody(fields, dist, cancelled)
        try:
            resp = client.http.post(url, content=iter(body), headers=client.headers(
                url, {"Content-Type": body.content_type, "Content-Length": str(body.length)}))
        except httpx.TransportError as exc:
            problem = f"connection failed after {body.sent} of {dist.size} bytes " \
                      f"({describe(exc)})"
        else:
            refuse_redirect(resp, f"uploading {dist.filename}")
            if resp.status_code in (200, 201):
                return Outcome(UPLOADED, attempt, time.monotonic() - started)
            message = index_message(resp.reason_phrase, resp.text)
            if resp.status_code == 409 or (resp.status_code == 400
                                           and _EXISTS_TEXT.search(message)):
                return Outcome(EXISTS, attempt, time.monotonic() - started, message)
            if resp.status_code not in RETRY_STATUS:
                raise StageFailed(
                    f"the index refused {dist.filename}: HTTP {resp.status_code} {message}",
                    _hint(resp.status_code))
            problem = f"HTTP {resp.status_code} {message}"
        if attempt > len(backoff):
            raise StageFailed(f"uploading {dist.filename} failed {attempt} times; last: "
                              f"{problem}", "the index is failing; re-run the stage later "
                              "(files already uploaded are recognised by digest)")
        wait = backoff[attempt - 1]
        log(f"upload of {dist.filename}: {problem}; retrying in {wait:g}s "
            f"(attempt {attempt + 1} of {len(backoff) + 1})")
        time.sleep(wait)


def _hint(status: int) -> str:
    if status in (401, 403):
        return ("the credential was refused: with trusted publishing check the publisher "
                "on the index; with token-env check the token and its project scope")
    return "fix what the index names and re-run; nothing was retried (a 4xx is final)"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def index_message(reason: str, body: str) -> str:
    """The index's explanation: warehouse puts it in the status line's reason, others
    in the body (HTML or text)."""
    standard = {"Bad Request", "Forbidden", "Conflict", "Unauthorized", "Not Found",
                "Internal Server Error", "Bad Gateway", "Service Unavailable", "OK", ""}
    parser = _Text()
    parser.feed(body[:20000])
    text = " ".join(" ".join(parser.parts).split())
    pieces = [p for p in (reason if reason not in standard else "", text) if p]
    return " - ".join(pieces)[:400] or reason
