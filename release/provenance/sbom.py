"""CycloneDX JSON SBOMs for Python distributions and single-file executables.

Spec: https://cyclonedx.org/docs/1.6/json/. cyclonedx-python-lib is imported inside
the functions that use it: stage modules import this module at plan time.
An OCI image archive is described by :mod:`release.provenance.image_sbom`.
A wheel or sdist is described by its core metadata (the distribution is the
BOM's subject, each ``Requires-Dist`` a declared, unresolved dependency); a
zipapp by the distributions it bundles and the pins of a lock it carries; a Go
program by the build information its linker embedded (modules, toolchain, settings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from release.errors import ReleaseError
from release.provenance.components import (
    PROPERTY_PREFIX,
    bundled_components,
    component,
    go_components,
    go_properties,
    purl_of,
)
from release.provenance.gobuild import GoBuild, read_go_build
from release.provenance.pymeta import (
    Bundle,
    Distribution,
    normalize,
    read_sdist,
    read_wheel,
    read_zipapp,
)

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

Format = Literal["wheel", "sdist", "executable", "image"]
SPEC_VERSION = "1.6"
#: in-toto predicate type of a CycloneDX SBOM
#: (https://github.com/in-toto/attestation/blob/main/spec/predicates/cyclonedx.md).
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"


def sbom_format(name: str, artifact_kind: str) -> Format | None:
    """Which SBOM an artifact gets, from its file name and manifest kind; ``None``: none."""
    if name.endswith(".whl"):
        return "wheel"
    if artifact_kind == "oci-image":
        return "image"
    if name.endswith(".tar.gz") and artifact_kind == "sdist":
        return "sdist"  # PEP 625: an sdist is a .tar.gz
    if artifact_kind in ("executable", "binary", "zipapp", "pyz") or name.endswith(".pyz"):
        return "executable"
    return None


def sbom_json(path: Path, fmt: Format, *, sha256: str, epoch: int | None = None) -> str:
    """The SBOM of the file at ``path`` (whose sha256 is ``sha256``) as JSON text.

    With ``epoch`` (SOURCE_DATE_EPOCH) the timestamp is the commit time and the
    serial number derives from the digest, so rebuilding gives the same bytes.
    """
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import ComponentType

    from release.provenance.cdx import bom_json

    if fmt == "image":
        from release.provenance.image_sbom import image_sbom_json

        return image_sbom_json(path, name=path.name, sha256=sha256, epoch=epoch)
    file_hash = HashType(alg=HashAlgorithm.SHA_256, content=sha256)
    deps: list[Component] = []
    if fmt in ("wheel", "sdist"):
        dist = read_wheel(path) if fmt == "wheel" else read_sdist(path)
        root = component(dist, ComponentType.LIBRARY, file_name=path.name, hashes=[file_hash])
        deps = _requirements(dist)
    else:
        bundle = read_zipapp(path)
        go = read_go_build(path) if bundle is None else None
        root = _executable(path.name, file_hash, bundle, go)
        if bundle is not None:
            deps = bundled_components(bundle)
        elif go is not None:
            deps = go_components(go)
    return bom_json(root, deps, serial=f"sha256:{sha256}#{fmt}", epoch=epoch)


def sbom_statement(name: str, sha256: str, sbom_text: str) -> dict[str, Any]:
    """An in-toto Statement v1 whose predicate is the SBOM of the artifact ``name``."""
    from release.provenance.slsa import STATEMENT_TYPE

    return {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {"sha256": sha256}}],
            "predicateType": CYCLONEDX_PREDICATE, "predicate": json.loads(sbom_text)}


def _requirements(dist: Distribution) -> list[Component]:
    """Declared dependencies: unresolved, so no version; the requirement text is kept."""
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentScope, ComponentType

    grouped: dict[str, list[tuple[str, str | None]]] = {}
    for req in dist.requires:
        if normalize(req.name) == normalize(dist.name):
            continue  # an extra pulling in other extras of the same distribution
        grouped.setdefault(normalize(req.name), []).append((req.text, req.extra))
    found = []
    for name, reqs in sorted(grouped.items()):
        optional = all(extra is not None for _, extra in reqs)
        props = [Property(name=f"{PROPERTY_PREFIX}requirement", value=text) for text, _ in reqs]
        props += [Property(name=f"{PROPERTY_PREFIX}extra", value=extra)
                  for extra in sorted({e for _, e in reqs if e})]
        purl = purl_of(name, None)
        found.append(Component(
            name=name, type=ComponentType.LIBRARY, purl=purl,  # type: ignore[arg-type]
            bom_ref=f"requirement:{name}", properties=props,
            scope=ComponentScope.OPTIONAL if optional else ComponentScope.REQUIRED))
    return found


def _executable(name: str, file_hash: object, bundle: Bundle | None,
                go: GoBuild | None) -> Component:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType

    more = go_properties(go) if go else []
    if go is not None:
        note = "Go program: components from its embedded build information"
    elif bundle is None:
        note = "neither a zip archive nor a Go program: contents not inspected"
    elif not bundle.installed and not bundle.locked:
        note = "zipapp without .dist-info or lock: bundled packages unknown"
    else:
        note = "zipapp: components from " + ", ".join(
            (["bundled .dist-info"] if bundle.installed else []) + list(bundle.lock_files))
    return Component(name=name, type=ComponentType.APPLICATION, bom_ref=f"file:{name}",
                     hashes=[file_hash],  # type: ignore[list-item]
                     properties=[Property(name=f"{PROPERTY_PREFIX}contents", value=note),
                                 *more])


def check_sbom(text: str) -> None:
    """Validate SBOM JSON against the CycloneDX 1.6 schema; raise ReleaseError if invalid."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ReleaseError(f"SBOM does not validate against CycloneDX {SPEC_VERSION}: {error}")
