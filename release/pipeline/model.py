"""The pipeline file format, version 1, as pydantic models (unknown keys are errors)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from release.engine.subtree import check_path
from release.stages import AnyStage
from release.stages.base import StageConfig

Repository = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", max_length=140)
]


class Source(BaseModel):
    """Where releases come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: Repository | None = Field(
        default=None, description="The GitHub repository releases belong to (owner/name)."
    )
    path: str = Field(
        default=".", max_length=1000,
        description="The folder of the repository released, relative to its root (the "
                    "repository git finds from the pipeline file's folder): the clean export "
                    "is that folder alone and every path of the pipeline is relative to it.")
    tags: str = Field(
        default="v*", description="Glob of the tags a release is cut from; the version is "
                                  "the tag without the glob's literal start and a leading "
                                  "`v` (`sdk/v*`: `sdk/v1.2.3` is version 1.2.3).")
    version: str | None = Field(
        default=None, description="The version, when it does not come from the tag."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value)


class Pipeline(BaseModel):
    """A release pipeline: named stages and the source they build."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="release pipeline, version 1")

    version: Literal[1] = Field(description="File format version; only 1 exists.")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    source: Source = Field(default_factory=Source)
    jobs: Literal["packed", "per-stage"] = Field(
        default="packed",
        description="Jobs of the generated GitHub Actions workflow: `packed` runs the stages "
        "that hold no credential together in as few jobs as their needs allow; `per-stage` "
        "gives every stage its own job.",
    )
    stages: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)],
                 AnyStage] = Field(min_length=1)

    def stage(self, stage_id: str) -> StageConfig:
        return self.stages[stage_id]
