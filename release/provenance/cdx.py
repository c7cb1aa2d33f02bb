"""CycloneDX 1.6 JSON output of a BOM whose root depends on every other component: the
one way the SBOMs of files and of images are written. It imports cyclonedx-python-lib:
import it where an SBOM is written, not at plan time.

The library's ``Bom.register_dependency`` finds a registered component by a linear
search, and its JSON output registers every component: quadratic in the components (a
minute for an image of 10,000 files). :func:`index_dependencies` gives a BOM an index; what
it registers, and so the output, is the library's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6

from release import __version__


def index_dependencies(bom: Bom) -> None:
    """Make ``bom.register_dependency`` find an entry by its bom-ref in constant time.

    The method is replaced on this object only: a subclass would not be serialized (the
    library serializes the classes it declares)."""
    index: dict[object, Dependency] = {d.ref: d for d in bom.dependencies}

    def register_dependency(target: Any, depends_on: Iterable[Any] | None = None) -> None:
        targets = list(depends_on or ())
        found = index.get(target.bom_ref)
        if found is None:
            found = Dependency(ref=target.bom_ref,
                               dependencies=[Dependency(ref=t.bom_ref) for t in targets])
            index[target.bom_ref] = found
            bom.dependencies.add(found)
        elif targets:
            found.dependencies.update(Dependency(ref=t.bom_ref) for t in targets)
        for dependency in targets:
            register_dependency(dependency)

    bom.register_dependency = register_dependency  # type: ignore[method-assign]


def bom_json(root: Component, components: Sequence[Component], *, serial: str,
             epoch: int | None) -> str:
    """The BOM describing ``root``, with ``components`` as its direct dependencies; with
    ``epoch`` (SOURCE_DATE_EPOCH) its timestamp, and a serial number derived from
    ``serial``, so rebuilding gives the same bytes."""
    tools = ToolRepository(components=[Component(
        type=ComponentType.APPLICATION, name="release", group="release-pipeline",
        version=__version__, bom_ref="tool:release")])
    when = datetime.fromtimestamp(epoch, UTC) if epoch is not None else None
    bom = Bom(metadata=BomMetaData(component=root, tools=tools, timestamp=when),
              components=components, serial_number=uuid.uuid5(uuid.NAMESPACE_URL, serial))
    index_dependencies(bom)
    bom.register_dependency(root, components)
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"
