"""The stage kinds, in an explicit order; a duplicate kind id is an error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from release.stages.attest import Attest
from release.stages.base import StageConfig, StageKind
from release.stages.checksums import Checksums
from release.stages.command import Command
from release.stages.github_release import GitHubRelease
from release.stages.oci_image import OciImage
from release.stages.pem_bundle import PemBundle
from release.stages.pypi_publish import PypiPublish
from release.stages.python_dist import PythonDist
from release.stages.sbom import Sbom
from release.stages.sign import Sign

_ORDER: tuple[StageKind[Any], ...] = (Command(), Checksums(), PemBundle(), PythonDist(),
                                      Sbom(), Sign(), Attest(), OciImage(), GitHubRelease(),
                                      PypiPublish())


def _registry(kinds: tuple[StageKind[Any], ...]) -> dict[str, StageKind[Any]]:
    table: dict[str, StageKind[Any]] = {}
    for kind in kinds:
        if kind.kind in table:
            raise RuntimeError(f"stage kind {kind.kind!r} is registered twice")
        table[kind.kind] = kind
    return table


KINDS: dict[str, StageKind[Any]] = _registry(_ORDER)

if TYPE_CHECKING:
    AnyStage = StageConfig
else:
    AnyStage = Annotated[Union[tuple(k.config for k in _ORDER)],  # noqa: UP007
                         Field(discriminator="kind")]

__all__ = ["KINDS", "AnyStage", "StageKind"]
