"""CycloneDX 1.6 SBOMs of OCI images: every regular file by path and sha256, the base by
digest.

The image is read from the ``oci-image`` stage's archive (an OCI image layout as a tar):
``index.json`` names the image (a manifest, or an index of one manifest per platform);
each manifest's layers are read in order, a later layer's file or whiteout
(https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts) replacing an
earlier one, so the files listed are those a container sees. The base image is the one
the manifest's ``org.opencontainers.image.base.*`` annotations name, by digest, as a
package URL of type ``oci``. A file that is a zipapp also contributes the distributions
it bundles and the pins of its lock, and a Go program the modules its linker recorded, as
the SBOM of the executable alone lists them; each such package once, with the paths of
the files that carry it as evidence: the first 100 by path (and 100,000 over all the
packages, in the order of their bom-refs), the property ``occurrences-not-listed``
saying how many more paths carry it: a program copied to a thousand paths lists each
of its modules with 100.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from release.errors import ReleaseError

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
#: Files up to this size that start as a zip, a script or a program (ELF, Mach-O, PE) are
#: checked for what they bundle: a zipapp's packages, a Go program's modules.
_INSPECT_LIMIT = 64 * 1024 * 1024
_INSPECTED = (b"#!", b"PK\x03\x04", b"\x7fELF", b"MZ", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe",
              b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
#: Paths listed as the evidence of one package or module, the first by path order (how
#: many more carry it is the property ``occurrences-not-listed``), and of all of them
#: together: one program at 800 paths would otherwise list its modules 800 times each.
MAX_OCCURRENCES = 100
MAX_ALL_OCCURRENCES = 100_000
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        found = archive.extractfile(name)
    except KeyError:
        found = None
    if found is None:
        raise ReleaseError(f"the image archive has no {name}", "build it with oci-image")
    return found


def _blob(archive: tarfile.TarFile, digest: str) -> IO[bytes]:
    return _member(archive, "blobs/sha256/" + digest.removeprefix("sha256:"))


def _digest(data: IO[bytes], size: int, scratch: Path, contents: dict[str, list[Any]]) -> str:
    """The sha256 of a file. A possible zipapp (a zip, or a script with a zip appended) or
    Go program is also copied to ``scratch`` as it streams by, inspected, and deleted:
    ``contents`` gets what it bundles, by the file's sha256."""
    head = data.read(4)
    sha = hashlib.sha256(head)
    copy = scratch / "file"
    out = copy.open("wb") if size <= _INSPECT_LIMIT and head.startswith(_INSPECTED) else None
    try:
        if out is not None:
            out.write(head)
        for chunk in iter(lambda: data.read(1 << 20), b""):
            sha.update(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if out is not None:
        if sha.hexdigest() not in contents:
            contents[sha.hexdigest()] = _inspect(copy)
        copy.unlink()
    return sha.hexdigest()


def _inspect(copy: Path) -> list[Any]:
    """The packages a zipapp bundles, or the modules a Go program was built from."""
    from release.provenance.components import bundled_components, go_components
    from release.provenance.gobuild import read_go_build
    from release.provenance.pymeta import read_zipapp

    bundle = read_zipapp(copy)
    if bundle is not None:
        return bundled_components(bundle)
    go = read_go_build(copy)
    return go_components(go) if go is not None else []


class _Tree:
    """The files of the flattened layers: path -> sha256, and each folder's names (of files
    and folders, some maybe gone since), so that removing a path and all under it costs
    the size of what is removed, not of the whole tree."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self._names: dict[str, set[str]] = {}

    def add(self, path: str, digest: str) -> None:
        self.files[path] = digest
        folder, base = posixpath.split(path)
        while base:  # "/" has no name in a folder
            names = self._names.setdefault(folder, set())
            if base in names:
                break  # the folders above are already known
            names.add(base)
            folder, base = posixpath.split(folder)

    def remove(self, path: str) -> None:
        """The file at ``path`` and everything under it."""
        folder, base = posixpath.split(path)
        self._names.get(folder, set()).discard(base)
        self._remove(path)

    def empty(self, folder: str) -> None:
        """Everything under ``folder`` (the folder itself stays, if a file)."""
        for base in self._names.pop(folder, set()):
            self._remove(posixpath.join(folder, base))

    def _remove(self, path: str) -> None:
        todo = [path]
        while todo:
            path = todo.pop()
            self.files.pop(path, None)
            todo += (posixpath.join(path, base) for base in self._names.pop(path, ()))


def _files(archive: tarfile.TarFile, layers: list[dict[str, Any]], scratch: Path,
           contents: dict[str, list[Any]]) -> dict[str, str]:
    """Path -> sha256 of the regular files of the flattened layers; what the possible
    zipapps and Go programs among them bundle goes to ``contents`` (see :func:`_digest`).

    A layer's whiteouts and opaque markers hide what the layers below hold, never what
    the layer itself holds, wherever they stand in its archive (the layer spec); then
    each of its entries that is not a folder replaces what was at its path."""
    tree = _Tree()
    for layer in layers:
        blob = _blob(archive, str(layer["digest"]))
        gzipped = str(layer.get("mediaType", "")).endswith("gzip")
        emptied: list[str] = []  # opaque markers: the folders whose lower content goes
        removed: list[str] = []  # whiteouts: the lower paths that go, with all under them
        added: list[tuple[str, str | None]] = []  # this layer's entries: a file's sha256
        with (tarfile.open(fileobj=blob, mode="r|gz") if gzipped
              else tarfile.open(fileobj=blob, mode="r|")) as tar:
            for entry in tar:
                path = posixpath.normpath("/" + entry.name)  # "./.env" is "/.env"
                folder, base = posixpath.split(path)
                if base == ".wh..wh..opq":
                    emptied.append(folder)
                elif base.startswith(".wh."):
                    removed.append(posixpath.join(folder, base[4:]))
                elif entry.isfile():
                    data = tar.extractfile(entry)
                    assert data is not None
                    added.append((path, _digest(data, entry.size, scratch, contents)))
                elif not entry.isdir():  # a link or a device in place of what was there
                    added.append((path, None))
        for folder in emptied:
            tree.empty(folder)
        for path in removed:
            tree.remove(path)
        for path, digest in added:
            tree.remove(path)
            if digest is not None:
                tree.add(path, digest)
    return tree.files


def _bundled(contents: dict[str, list[Any]], where: dict[str, set[str]]) -> list[Any]:
    """The packages of the zipapps and the modules of the Go programs among the image's
    files (``where``: sha256 -> the paths it is found at; files a later layer replaced
    are not there). Each package once, with the paths of the files that carry it as
    evidence (at most :data:`MAX_OCCURRENCES`, and :data:`MAX_ALL_OCCURRENCES` in all),
    and what each of them says of it (two programs claiming different go.sum checksums
    for one module both show)."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom_ref import BomRef
    from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence

    from release.provenance.components import PROPERTY_PREFIX

    found: dict[str, Any] = {}
    carried_by: dict[str, list[str]] = {}  # bom-ref -> the sha256 of the files carrying it
    for sha in sorted(contents):
        for component in contents[sha] if sha in where else ():
            ref = str(component.bom_ref)
            if ref in found:
                found[ref].properties.update(component.properties)
            else:
                found[ref] = component
            carried_by.setdefault(ref, []).append(sha)
    budget = MAX_ALL_OCCURRENCES
    for ref in sorted(found):
        component = found[ref]
        carriers = sorted(set().union(*(where[sha] for sha in carried_by[ref])))
        listed = carriers[:min(MAX_OCCURRENCES, budget)]
        budget -= len(listed)
        if listed:
            # one bom-ref object, never written, for all: the library orders occurrences by
            # bom-ref first, and two unset ones do not compare, so the order was arbitrary
            same = BomRef()
            component.evidence = ComponentEvidence(
                occurrences=[Occurrence(location=path, bom_ref=same) for path in listed])
        if len(carriers) > len(listed):
            component.properties.add(Property(name=f"{PROPERTY_PREFIX}occurrences-not-listed",
                                              value=str(len(carriers) - len(listed))))
    return [found[k] for k in sorted(found)]


def image_sbom_json(path: Path, *, name: str, sha256: str, epoch: int | None) -> str:
    """The SBOM of the image archive at ``path`` (named ``name``, whose sha256 is ``sha256``)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    from release.oci.reference import Reference
    from release.provenance.cdx import bom_json

    scratch = Path(tempfile.mkdtemp(prefix="release-image-sbom-"))
    contents: dict[str, list[Any]] = {}
    try:
        with tarfile.open(path) as archive:
            [top] = json.load(_member(archive, "index.json"))["manifests"]
            doc = json.load(_blob(archive, top["digest"]))
            manifests = ([(m, json.load(_blob(archive, m["digest"]))) for m in doc["manifests"]]
                         if top.get("mediaType") in _INDEX_TYPES else [(top, doc)])
            platforms = [(m.get("platform") or {}, d,
                          _files(archive, d.get("layers") or [], scratch, contents))
                         for m, d in manifests]
        where: dict[str, set[str]] = {}
        for _, _, files in platforms:
            for file_path, digest in files.items():
                where.setdefault(digest, set()).add(file_path)
        packages = _bundled(contents, where)
    except (tarfile.TarError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ReleaseError(f"cannot read the image archive {name}: {exc}",
                           "build it with the oci-image stage") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    multi = len(platforms) > 1
    components: list[Component] = []
    bases: dict[str, Component] = {}
    for platform, manifest, files in platforms:
        label = "/".join(str(platform[k]) for k in ("os", "architecture", "variant")
                         if platform.get(k))
        props = [Property(name="release-pipeline:platform", value=label)] if multi else []
        for file_path, digest in sorted(files.items()):
            components.append(Component(
                type=ComponentType.FILE, name=file_path,
                bom_ref=f"file:{label}:{file_path}" if multi else f"file:{file_path}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
                properties=props))
        notes = manifest.get("annotations") or {}
        base, base_digest = notes.get(BASE_NAME), notes.get(BASE_DIGEST)
        if base and base_digest and base_digest not in bases:
            ref = Reference.parse(str(base))
            repo = f"{ref.host}/{ref.repository}"
            purl = PackageURL(type="oci", name=repo.rsplit("/", 1)[-1], version=base_digest,
                              qualifiers={"repository_url": repo})
            bases[base_digest] = Component(
                type=ComponentType.CONTAINER, name=repo, version=base_digest, purl=purl,
                bom_ref=str(purl), hashes=[HashType(
                    alg=HashAlgorithm.SHA_256, content=base_digest.removeprefix("sha256:"))],
                properties=[Property(name="release-pipeline:role", value="base image")])
    digest = top["digest"]
    root = Component(type=ComponentType.CONTAINER, name=name, bom_ref=f"image:{digest}",
                     version=digest, hashes=[HashType(alg=HashAlgorithm.SHA_256,
                                                      content=sha256)],
                     properties=[Property(name="release-pipeline:image-digest", value=digest)])
    return bom_json(root, [*bases.values(), *components, *packages],
                    serial=f"{digest}#image", epoch=epoch)
