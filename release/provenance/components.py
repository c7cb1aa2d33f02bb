"""CycloneDX components of Python distributions (a distribution's own component: name,
version, purl, licenses, links; and those a zipapp bundles) and of the modules a Go
program was built from. Shared by the SBOMs of files (:mod:`release.provenance.sbom`)
and of images (:mod:`release.provenance.image_sbom`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from release.provenance.gobuild import GoBuild, GoModule
from release.provenance.pymeta import Bundle, Distribution, normalize

if TYPE_CHECKING:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component
    from packageurl import PackageURL

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


def go_components(build: GoBuild) -> list[Component]:
    """The Go standard library of the toolchain that linked the program, and each module
    it was built from (a replaced module by its replacement, naming what it replaces)."""
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from packageurl import PackageURL

    found, refs = [], set()
    release = re.fullmatch(r"go(\d+\.\d+(?:\.\d+)?)", build.go_version.split(" ")[0])
    if release:  # "stdlib" is how vulnerability databases name Go's standard library
        stdlib = PackageURL(type="golang", name="stdlib", version=release[1])
        found.append(Component(name="stdlib", version=release[1], type=ComponentType.LIBRARY,
                               purl=stdlib, bom_ref=str(stdlib), scope=ComponentScope.REQUIRED))
    for module in build.deps:
        props = [Property(name=f"{PROPERTY_PREFIX}go-sum", value=module.sum)] if module.sum else []
        if module.replaces and module.version in ("", "(devel)"):
            # a folder of the build stands in for the module: no version says what it holds
            props.append(Property(name=f"{PROPERTY_PREFIX}go-replaced-by-folder",
                                  value=module.path))
            name, version, purl = module.replaces.path, None, None
        else:
            if module.replaces:
                props.append(Property(name=f"{PROPERTY_PREFIX}go-replaces",
                                      value=_module_text(module.replaces)))
            name, version = module.path, module.version or None
            purl = _go_purl(module.path, module.version)
        ref = str(purl) if purl else f"go-module:{name}"
        if not name or ref in refs:
            continue  # a line without a module, or one named twice: listed once
        refs.add(ref)
        found.append(Component(
            name=name, version=version, type=ComponentType.LIBRARY,
            purl=purl, bom_ref=ref,
            scope=ComponentScope.REQUIRED, properties=props))
    return found


def go_properties(build: GoBuild) -> list[Property]:
    """What the root component of a Go program says of its build: the toolchain, the
    main package and module, and each build setting (``GOOS``, ``-trimpath``...; the
    first :data:`~release.provenance.gobuild.MAX_SETTINGS`, then how many more)."""
    from cyclonedx.model import Property

    props = [Property(name=f"{PROPERTY_PREFIX}go-version", value=build.go_version)]
    if build.unlisted:
        props.append(Property(name=f"{PROPERTY_PREFIX}go-modules-not-listed",
                              value=f"{build.unlisted} claimed: too many to list"))
    if build.path:
        props.append(Property(name=f"{PROPERTY_PREFIX}go-package", value=build.path))
    if build.main:
        props.append(Property(name=f"{PROPERTY_PREFIX}go-main-module",
                              value=_module_text(build.main)))
    props += [Property(name=f"{PROPERTY_PREFIX}go-build:{key}", value=value)
              for key, value in build.settings]
    if build.settings_unlisted:
        props.append(Property(name=f"{PROPERTY_PREFIX}go-build-settings-not-listed",
                              value=f"{build.settings_unlisted} more claimed: too many to list"))
    return props


def _module_text(module: GoModule) -> str:
    return f"{module.path}@{module.version}" if module.version else module.path


#: What Go accepts as a module path and a module version (go.dev/ref/mod#go-mod-file-ident,
#: #versions); anything else a program claims gets no package URL.
_ELEMENT = r"[A-Za-z0-9_~+-](?:[A-Za-z0-9._~+-]*[A-Za-z0-9_~+-])?"  # no leading or trailing dot
_MODULE_PATH = re.compile(rf"{_ELEMENT}(?:/{_ELEMENT})*")
_MODULE_VERSION = re.compile(r"v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?")


def _go_purl(path: str, version: str) -> PackageURL | None:
    from packageurl import PackageURL

    if not (_MODULE_PATH.fullmatch(path) and _MODULE_VERSION.fullmatch(version)):
        return None
    # https://github.com/package-url/purl-spec/blob/main/PURL-TYPES.rst#golang
    namespace, _, name = path.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version)
