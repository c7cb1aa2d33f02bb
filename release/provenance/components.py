"""CycloneDX components of Python distributions: a distribution's own component (name,
version, purl, licenses, links), and those a zipapp bundles. Shared by the SBOMs of
files (:mod:`release.provenance.sbom`) and of images (:mod:`release.provenance.image_sbom`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from release.provenance.pymeta import Bundle, Distribution, normalize

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

#: Namespace of our CycloneDX properties (https://cyclonedx.org/docs/1.6/json/#properties).
PROPERTY_PREFIX = "release-pipeline:"


def bundled_components(bundle: Bundle) -> list[Component]:
    """The distributions a zipapp bundles (its ``.dist-info``) and the pins of its lock."""
    from cyclonedx.model import Property
    from cyclonedx.model.component import ComponentScope, ComponentType

    deps = [component(d, ComponentType.LIBRARY, scope=ComponentScope.REQUIRED)
            for d in bundle.installed]
    deps += [component(d, ComponentType.LIBRARY, scope=ComponentScope.REQUIRED,
                        properties=[Property(name=f"{PROPERTY_PREFIX}evidence", value="lock")])
             for d in bundle.locked]
    return deps


def purl_of(name: str, version: str | None, file_name: str | None = None) -> object:
    from packageurl import PackageURL

    # https://github.com/package-url/purl-spec/blob/main/PURL-TYPES.rst#pypi
    return PackageURL(type="pypi", name=normalize(name), version=version or None,
                      qualifiers={"file_name": file_name} if file_name else None)


def component(dist: Distribution, kind: object, *, file_name: str | None = None,
               hashes: Iterable[object] = (), scope: object = None,
               properties: Iterable[object] = ()) -> Component:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
    from cyclonedx.model.component import Component

    purl = purl_of(dist.name, dist.version, file_name)
    licenses = []
    lic = dist.license_expression or dist.license
    if lic:
        licenses.append(LicenseFactory().make_from_string(lic))
    refs = []
    for label, url in dist.urls:
        kind_of = (ExternalReferenceType.VCS
                   if label.lower() in ("source", "repository", "source code", "github")
                   else ExternalReferenceType.WEBSITE)
        try:
            refs.append(ExternalReference(type=kind_of, url=XsUri(url), comment=label))
        except ValueError:
            continue  # a malformed URL in metadata is not worth failing the SBOM for
    return Component(name=dist.name, version=dist.version or None, type=kind,  # type: ignore[arg-type]
                     purl=purl, bom_ref=str(purl), hashes=hashes,  # type: ignore[arg-type]
                     licenses=licenses, description=dist.summary, scope=scope,  # type: ignore[arg-type]
                     external_references=refs, properties=properties)  # type: ignore[arg-type]
