"""A distribution's core metadata, the upload form built from it, and the preflight checks.

The form follows the legacy upload API (https://docs.pypi.org/api/upload/) and twine's
field names: each core-metadata field lowercased with ``_`` for ``-``, list fields
repeated, ``Project-URL`` as ``"label, url"``, ``Keywords`` joined with ``", "``.
The preflight refuses, before anything is uploaded, what PyPI would refuse or render
badly: invalid metadata (``packaging.metadata``, as warehouse validates), a file name that
disagrees with its metadata, a version other than the tag's, a local version, and a long
description that does not render (reStructuredText through ``readme_renderer``, what
``twine check`` and PyPI use).
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.errors import StageFailed
from release.provenance.pymeta import _MAX_MEMBERS as MAX_MEMBERS

#: Largest METADATA / PKG-INFO read (PyPI's own limit on a description is far smaller).
MAX_METADATA = 8 * 1024 * 1024
#: RawMetadata keys -> upload form fields (twine's names, which warehouse reads).
_FORM_NAMES = {
    "metadata_version": "metadata_version", "name": "name", "version": "version",
    "platforms": "platform", "summary": "summary", "description": "description",
    "keywords": "keywords", "home_page": "home_page", "author": "author",
    "author_email": "author_email", "license": "license",
    "supported_platforms": "supported_platform", "download_url": "download_url",
    "classifiers": "classifiers", "requires": "requires", "provides": "provides",
    "obsoletes": "obsoletes", "maintainer": "maintainer", "maintainer_email":
    "maintainer_email", "requires_dist": "requires_dist", "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist", "requires_python": "requires_python",
    "requires_external": "requires_external", "project_urls": "project_urls",
    "description_content_type": "description_content_type",
    "provides_extra": "provides_extra", "dynamic": "dynamic",
    "license_expression": "license_expression", "license_files": "license_file",
}


@dataclass(frozen=True)
class DistFile:
    """A distribution to publish: its file, artifact kind and recorded digest."""

    path: Path
    kind: str  # "sdist" or "wheel"
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class DistMetadata:
    """What a distribution says about itself."""

    name: str
    version: str
    #: The upload form's metadata fields, in order, list fields repeated.
    fields: tuple[tuple[str, str], ...] = field(default=())
    description: str = ""
    description_content_type: str | None = None


def read_metadata(dist: DistFile) -> DistMetadata:
    """Parse and validate the core metadata inside a wheel or an sdist."""
    from packaging.metadata import ExceptionGroup, Metadata, parse_email

    raw_bytes = _metadata_bytes(dist)
    raw, unparsed = parse_email(raw_bytes)
    # warehouse refuses fields it cannot parse; so do we, before uploading anything
    problems = [f"field {key!r} is unknown or malformed" for key in sorted(unparsed)]
    try:
        meta = Metadata.from_raw(raw, validate=True)
    except ExceptionGroup as group:
        problems += [str(e) for e in group.exceptions]
        meta = None
    if problems or meta is None:
        raise StageFailed(f"{dist.filename}: invalid core metadata: " + "; ".join(problems),
                          "fix the project's metadata (pyproject.toml) and rebuild; PyPI "
                          "would refuse this upload")
    fields: list[tuple[str, str]] = []
    for key, value in raw.items():
        name = _FORM_NAMES.get(key)
        if name is None:
            continue
        if key == "project_urls":
            assert isinstance(value, dict)
            fields += [(name, f"{label}, {url}") for label, url in value.items()]
        elif key == "keywords":
            assert isinstance(value, list)
            fields.append((name, ", ".join(value)))
        elif isinstance(value, list):
            fields += [(name, str(item)) for item in value]
        else:
            fields.append((name, str(value)))
    return DistMetadata(str(meta.name), str(meta.version), tuple(fields),
                        str(raw.get("description") or ""),
                        raw.get("description_content_type"))


def _metadata_bytes(dist: DistFile) -> bytes:
    """METADATA of a wheel (its ``*.dist-info``), PKG-INFO of an sdist; never extracted."""
    try:
        if dist.kind == "wheel":
            with zipfile.ZipFile(dist.path) as zf:
                names = [n for n in zf.namelist() if n.count("/") == 1
                         and n.endswith(".dist-info/METADATA")]
                if len(names) != 1:
                    raise StageFailed(f"{dist.filename}: expected one .dist-info/METADATA, "
                                      f"found {len(names)}", "is this a wheel?")
                info = zf.getinfo(names[0])
                if info.file_size > MAX_METADATA:
                    raise StageFailed(f"{dist.filename}: METADATA is {info.file_size} bytes")
                return zf.read(info)
        with tarfile.open(dist.path, "r:gz") as tf:
            for count, member in enumerate(tf):
                # a tiny tar.gz can hold a million empty members: each costs time and
                # memory while the job holds id-token (pymeta.read_sdist's cap)
                if count >= MAX_MEMBERS:
                    raise StageFailed(f"{dist.filename} has more than {MAX_MEMBERS} members "
                                      "before its PKG-INFO", "is this an sdist?")
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    if member.size > MAX_METADATA:
                        raise StageFailed(f"{dist.filename}: PKG-INFO is {member.size} bytes")
                    handle = tf.extractfile(member)
                    assert handle is not None
                    return handle.read()
        raise StageFailed(f"{dist.filename}: no top-level PKG-INFO", "is this an sdist?")
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise StageFailed(f"{dist.filename}: cannot read its metadata ({exc})",
                          "is this a wheel or a .tar.gz sdist?") from None


def pyversion(dist: DistFile) -> str:
    """The form's ``pyversion``: ``source`` for an sdist, the wheel's Python tag."""
    if dist.kind == "sdist":
        return "source"
    return dist.filename.removesuffix(".whl").split("-")[-3]


def check_filename(dist: DistFile, meta: DistMetadata) -> None:
    """The file name must name the project and version its metadata names."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        canonicalize_name,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import Version

    try:
        if dist.kind == "wheel":
            name, version, *_ = parse_wheel_filename(dist.filename)
        else:
            if not dist.filename.endswith(".tar.gz"):
                raise InvalidSdistFilename(dist.filename)
            name, version = parse_sdist_filename(dist.filename)
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise StageFailed(f"{dist.filename} is not a valid {dist.kind} file name ({exc})",
                          "PyPI accepts wheels (PEP 427) and .tar.gz sdists (PEP 625)"
                          ) from None
    if name != canonicalize_name(meta.name) or version != Version(meta.version):
        raise StageFailed(f"{dist.filename}: its name says {name} {version}, its metadata "
                          f"{meta.name} {meta.version}", "rebuild the distribution")


def check_release(dists: list[tuple[DistFile, DistMetadata]], tag_version: str | None) -> None:
    """One project, one version, the tag's, no local segment, a description that renders."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    names = {canonicalize_name(m.name) for _, m in dists}
    versions = {Version(m.version) for _, m in dists}
    if len(names) > 1 or len(versions) > 1:
        found = ", ".join(f"{d.filename} ({m.name} {m.version})" for d, m in dists)
        raise StageFailed(f"the distributions are not one release: {found}",
                          "publish one project and version per stage")
    version = versions.pop()
    if version.local is not None:
        raise StageFailed(f"version {version} has a local segment (+{version.local}), "
                          "which PyPI refuses", "release from a tag, with a clean version")
    if tag_version is not None and version != _version(tag_version):
        raise StageFailed(f"the distributions are version {version}, but the release tag "
                          f"says {tag_version}", "make the project's version match the tag")
    for dist, meta in dists:
        check_description(dist, meta)


def _version(text: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise StageFailed(f"the release tag's version {text!r} is not a PEP 440 version",
                          "tag releases like v1.2.3") from None


def check_description(dist: DistFile, meta: DistMetadata) -> None:
    """The long description renders on PyPI (what ``twine check`` checks)."""
    from email.message import Message

    header = Message()
    header["content-type"] = meta.description_content_type or "text/x-rst"
    content_type = header.get_content_type()
    if content_type not in ("text/plain", "text/x-rst", "text/markdown"):
        raise StageFailed(f"{dist.filename}: Description-Content-Type {content_type!r} is not "
                          "one PyPI renders", "use text/markdown, text/x-rst or text/plain")
    variant = header.get_param("variant")
    if content_type == "text/markdown" and variant not in (None, "GFM", "CommonMark"):
        raise StageFailed(f"{dist.filename}: Markdown variant {variant!r} is unknown",
                          "use variant=GFM or variant=CommonMark")
    if content_type != "text/x-rst" or not meta.description.strip():
        return
    import io

    from readme_renderer.rst import render

    warnings = io.StringIO()
    if render(meta.description, stream=warnings) is None:
        detail = " ".join(warnings.getvalue().split())[:300]
        raise StageFailed(f"{dist.filename}: the long description is reStructuredText that "
                          f"does not render on PyPI ({detail or 'no details'})",
                          "fix the README, or set its content type to text/markdown "
                          "(readme = {file = \"README.md\", content-type = \"text/markdown\"})")
