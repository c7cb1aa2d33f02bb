"""The stage kinds, in an explicit order; a duplicate kind id is an error.

A kind's module is imported the first time the kind is looked up, so loading a
pipeline builds the configuration models of the kinds it uses and no others
(``release plan`` and every CI job's ``release run --stage`` start faster).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from release.engine.contract import StageConfig, StageKind

#: kind id -> (module, class), in the order ``release stages`` and hints list them.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("command", "release.stages.command", "Command"),
    ("checksums", "release.stages.checksums", "Checksums"),
    ("pem-bundle", "release.stages.pem_bundle", "PemBundle"),
    ("python-dist", "release.stages.python_dist", "PythonDist"),
    ("sbom", "release.stages.sbom", "Sbom"),
    ("sign", "release.stages.sign", "Sign"),
    ("attest", "release.stages.attest", "Attest"),
    ("oci-image", "release.stages.oci_image", "OciImage"),
    ("github-release", "release.stages.github_release", "GitHubRelease"),
    ("pypi-publish", "release.stages.pypi_publish", "PypiPublish"),
)


class KindRegistry(Mapping[str, StageKind[Any]]):
    """Kind id -> the kind, imported on first use from an explicit table."""

    def __init__(self, table: tuple[tuple[str, str, str], ...]) -> None:
        self._where: dict[str, tuple[str, str]] = {}
        for kind, module, name in table:
            if kind in self._where:
                raise RuntimeError(f"stage kind {kind!r} is registered twice")
            self._where[kind] = (module, name)
        self._loaded: dict[str, StageKind[Any]] = {}

    def __getitem__(self, kind: str) -> StageKind[Any]:
        if kind not in self._loaded:
            module, name = self._where[kind]
            found: StageKind[Any] = getattr(importlib.import_module(module), name)()
            if found.kind != kind:
                raise RuntimeError(f"{module}.{name} is kind {found.kind!r}, registered "
                                   f"as {kind!r}")
            self._loaded[kind] = found
        return self._loaded[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, kind: object) -> bool:
        return kind in self._where


KINDS = KindRegistry(_TABLE)


def any_stage() -> Any:
    """The configuration of any kind, discriminated by ``kind``: the type of a pipeline's
    stages in its full model and its JSON Schema (imports every kind)."""
    from typing import Annotated, Union

    from pydantic import Field

    configs = tuple(KINDS[kind].config for kind in KINDS)
    return Annotated[Union[configs], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    AnyStage = StageConfig

__all__ = ["KINDS", "KindRegistry", "StageKind", "any_stage"]
