"""The shape every stage kind has: a config model, permissions, effects, plan and run.

The contract itself (:class:`StageKind`, :class:`StageConfig`, :class:`StageContext`
and what a stage returns) is :mod:`release.engine.contract`, which the engine imports
too; this module holds what only the layers above the engine use.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from release.engine.contract import (
    PipelineView,
    StageConfig,
)
from release.permissions import PermissionSet

#: A yaml path, a message and a hint: one problem a kind found in a pipeline.
Problem = tuple[tuple[str | int, ...], str, str | None]


@runtime_checkable
class ChecksPipeline(Protocol):
    """A kind that checks its configuration against the rest of the pipeline at load time."""

    def check_pipeline(self, stage_id: str, config: Any, pipeline: PipelineView) -> list[Problem]:
        ...


@runtime_checkable
class NeedsPipelinePermissions(Protocol):
    """A kind whose privileges depend on other stages (a ``sign`` stage writing referrers
    where its needs pushed an image needs that push's privileges)."""

    def pipeline_permissions(self, stage_id: str, config: Any,
                             pipeline: PipelineView) -> PermissionSet: ...


@runtime_checkable
class RunsInEnvironment(Protocol):
    """A kind whose generated job runs in a GitHub environment of its own (e.g. ``pypi``,
    the environment a PyPI trusted publisher names) instead of the workflow's."""

    def environment(self, config: Any) -> str: ...


def describe_config(config: StageConfig) -> dict[str, Any]:
    """The kind-specific keys of a config, for plans."""
    common = {f.alias or n for n, f in StageConfig.model_fields.items()}
    return {k: v for k, v in config.model_dump(by_alias=True, mode="json").items()
            if k not in common}
