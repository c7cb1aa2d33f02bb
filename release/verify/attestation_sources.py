"""Where attestations come from: bundle files among the assets, ``gh attestation download``
files, and GitHub's attestations API; and saving what the API gave beside the assets.

- A Sigstore bundle file (``*.sigstore.json``, ``*.sigstore``) whose content is a DSSE
  envelope is an attestation, whatever its name says (a bundle beside our own
  ``NAME.intoto.jsonl`` is that file's signature and is read with it instead).
- ``gh attestation download`` writes ``sha256:<hex>.jsonl`` (``sha256-<hex>.jsonl``
  where ``:`` is not allowed in names), one bundle per line; read up to the metadata
  limit and at most :data:`MAX_LINES` lines.
- ``--github`` lists each asset's attestations and the release attestation from the
  API; the ones that verified and were used are saved beside the assets in
  ``gh attestation download``'s format (``sha256:<hex>.jsonl``; the release attestation
  as ``sha1:<commit>.jsonl``, the digest GitHub files it under), each created with
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` in the download folder: a name that exists (an asset
  of that name) is never overwritten, and the check can be repeated offline.

Nothing here is trusted: each candidate is verified by :mod:`release.verify.attestations`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release.engine.safefs import open_folder
from release.errors import IntegrityError
from release.untrusted_json import loads_json
from release.verify.folder import METADATA_LIMIT, FolderError, ReleaseFolder
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES

#: ``gh attestation download``'s file names.
DOWNLOAD_NAME = re.compile(r"^(?:.*/)?(sha256|sha1)[:-]([0-9a-f]{40}|[0-9a-f]{64})\.jsonl$")
#: More bundles than this in one file is no release's attestations: a denial of service.
MAX_LINES = 256
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Candidate:
    """One attestation bundle to verify, and where it was found."""

    #: For messages: ``FILE``, ``FILE:LINE`` or ``GitHub API sha256:... #N``.
    origin: str
    #: ``asset`` (a bundle file), ``download`` (a gh download file) or ``api``.
    source: str
    #: The folder file it came from (None from the API).
    file: str | None
    bundle: bytes | None
    #: Why there is no bundle to verify (a malformed line...); "" when already reported.
    problem: str | None = None


def is_download_file(name: str) -> bool:
    return DOWNLOAD_NAME.match(name) is not None


def bundle_files(folder: ReleaseFolder, names: list[str], partners: set[str]) -> list[str]:
    """Bundle files holding a DSSE envelope (not the signature of an ``.intoto.jsonl``)."""
    found = []
    for name in names:
        if name in partners or not name.endswith(BUNDLE_SUFFIXES):
            continue
        try:
            data = loads_json(folder.read(name, METADATA_LIMIT, "a Sigstore bundle"))
        except (FolderError, ValueError):
            continue  # read as a signature, which reports it
        if isinstance(data, dict) and isinstance(data.get("dsseEnvelope"), dict):
            found.append(name)
    return found


def from_files(folder: ReleaseFolder, bundles: list[str], downloads: list[str],
               read: Callable[[str, int, str, str], bytes | None]) -> list[Candidate]:
    """The candidates in bundle files and download files; ``read`` reports what fails."""
    out = []
    for name in bundles:
        data = read(name, METADATA_LIMIT, "a Sigstore bundle", "attestation")
        out.append(Candidate(name, "asset", name, data, None if data is not None else ""))
    for name in downloads:
        data = read(name, METADATA_LIMIT, "an attestation file", "attestation")
        if data is None:
            out.append(Candidate(name, "download", name, None, ""))
            continue
        out += _lines(name, data)
    return out


class _Fetched(Protocol):
    @property
    def origin(self) -> str: ...

    @property
    def bundle(self) -> bytes | None: ...

    @property
    def problem(self) -> str | None: ...


def from_api(fetched: list[_Fetched]) -> tuple[Candidate, ...]:
    """Candidates from GitHub's answers, each once (the release attestation is listed
    under the commit and under every asset)."""
    seen: set[bytes] = set()
    out = []
    for item in fetched:
        if item.bundle is not None:
            if item.bundle in seen:
                continue
            seen.add(item.bundle)
        out.append(Candidate(item.origin, "api", None, item.bundle, item.problem))
    return tuple(out)


def _lines(name: str, data: bytes) -> list[Candidate]:
    lines = [(n, raw) for n, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    if not lines:
        return [Candidate(name, "download", name, None, "the file is empty")]
    if len(lines) > MAX_LINES:
        return [Candidate(name, "download", name, None,
                          f"{len(lines)} lines, more than the {MAX_LINES} read")]
    out = []
    for number, raw in lines:
        where = f"{name}:{number}"
        try:
            ok = isinstance(loads_json(raw), dict)
            problem = None if ok else "not a JSON object"
        except ValueError as exc:
            problem = f"not JSON ({exc})"
        out.append(Candidate(where, "download", name, raw if problem is None else None,
                             problem))
    return out


def save(directory: Path, files: dict[str, list[bytes]], report: Report) -> None:
    """Write each ``name -> bundles`` as a new file of ``directory`` (never over one)."""
    for name, bundles in sorted(files.items()):
        data = b"".join(json.dumps(json.loads(b), separators=(",", ":")).encode() + b"\n"
                        for b in dict.fromkeys(bundles))
        try:
            with open_folder(directory) as dirfd:
                fd = os.open(name, _NEW, 0o644, dir_fd=dirfd)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
        except (OSError, IntegrityError) as exc:
            reason = "a file of that name is already there (a release asset?)" \
                if isinstance(exc, FileExistsError) else str(exc)
            report.failed("saved", name, f"not saved: {reason}",
                          expected="a new file beside the assets", found=reason)
            continue
        report.passed("saved", name, f"{len(dict.fromkeys(bundles))} attestation(s) from the "
                      "GitHub API, saved to check again offline")
