"""The contract between the engine and a stage kind: what a stage is given and returns.

Both sides import this module: the engine (runner, contexts, plans) and the stage
kinds (:mod:`release.stages`), so neither reaches into the other. The pipeline a
stage sees is :class:`PipelineView`, the part of the pipeline model a stage reads.
"""

from __future__ import annotations

import enum
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Generic,
    Protocol,
    TypeVar,
    runtime_checkable,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from release.engine.credentials import looks_secret, refused_variable
from release.engine.runners import DEFAULT_RUNNER, RUNS_ON_SCHEMA, check_runs_on
from release.engine.stagematrix import MatrixSpec
from release.permissions import NONE, PermissionSet, PermissionsModel

if TYPE_CHECKING:
    from release.engine.manifest import Artifact
    from release.engine.sandbox import Sandbox, Workspace
    from release.engine.source import SourceFacts

STAGE_ID = r"^[a-z][a-z0-9-]*$"
StageId = Annotated[str, Field(pattern=STAGE_ID, max_length=64)]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

#: Environment variables that point tools at a cache; a pipeline may not set them.
CACHE_VARIABLES = frozenset({
    "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR", "UV_CACHE_DIR", "UV_NO_CACHE", "GOCACHE", "GOMODCACHE",
    "GOFLAGS", "npm_config_cache", "NPM_CONFIG_CACHE", "YARN_CACHE_FOLDER", "CARGO_HOME",
    "CARGO_TARGET_DIR", "XDG_CACHE_HOME", "SCCACHE_DIR", "CCACHE_DIR", "RUSTC_WRAPPER",
    "ACTIONS_CACHE_URL", "ACTIONS_CACHE_SERVICE_V2", "BUILDKIT_CACHE",
})


def parse_duration(value: int | str) -> int:
    """``90``, ``"90s"``, ``"15m"``, ``"1h30m"`` -> seconds."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value.strip())
        if not match or not any(match.groups()):
            raise ValueError("expected seconds or a duration such as 90s, 15m or 1h30m")
        h, m, s = (int(g) if g else 0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if not 1 <= seconds <= 6 * 3600:
        raise ValueError("timeout must be between 1 second and 6 hours (GitHub's job limit)")
    return seconds


def _check_env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")
    if name in CACHE_VARIABLES:
        raise ValueError(f"{name} configures a cache or its location; caches are not "
                         "allowed: every stage starts from empty caches")
    if looks_secret(name):
        raise ValueError(f"{name} looks like a secret; env holds plain values only, "
                         "and credentials reach a stage only through its permissions")
    if why := refused_variable(name):
        raise ValueError(why)
    return name


class Effect(enum.Enum):
    """What running a stage changes; dry-run runs only ``local`` and ``network`` stages."""

    LOCAL = "local"
    NETWORK = "network"
    EXTERNAL = "external"


class StageConfig(BaseModel):
    """Keys every stage has. Kind models add their own beside these."""

    #: Each kind's model is built when first used (``defer_build``): loading a pipeline
    #: builds the models of the kinds it uses, not every kind's as it is imported.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: str
    needs: tuple[StageId, ...] = ()
    permissions: PermissionsModel | None = None
    env: dict[Annotated[str, AfterValidator(_check_env_name)], str] = Field(
        default_factory=dict)
    timeout: int | str = "30m"
    reproducible: bool = False
    runs_on: Annotated[str | list[str], AfterValidator(check_runs_on),
                       WithJsonSchema(RUNS_ON_SCHEMA)] = Field(
        default=DEFAULT_RUNNER, alias="runs-on",
        description="The runner of this stage's job in the generated workflow: a GitHub-hosted "
        "label (ubuntu-24.04, ubuntu-24.04-arm, macos-15...) or a list of runner labels "
        "naming its system ([self-hosted, linux, arm64]). Locally a stage whose runner this "
        "host cannot stand in for is skipped, with the reason.")
    matrix: MatrixSpec | None = Field(
        default=None,
        description="Axes of values: the stage becomes one stage per combination, with ids "
        "like `cli-linux-amd64`; `{matrix.AXIS}` is replaced in run, fetch, outputs, env "
        "values and runs-on; `needs` on this stage means every expansion.")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: int | str) -> int | str:
        parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)


C = TypeVar("C", bound=StageConfig)


class SourceView(Protocol):
    """The pipeline's ``source:``, as a stage reads it."""

    @property
    def repository(self) -> str | None: ...
    @property
    def tags(self) -> str: ...
    @property
    def version(self) -> str | None: ...


class PipelineView(Protocol):
    """The pipeline a stage runs in (:class:`release.pipeline.model.Pipeline`)."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> SourceView: ...
    @property
    def stages(self) -> Mapping[str, StageConfig]: ...


@dataclass(frozen=True)
class Output:
    """A file a stage produced, relative to its output directory."""

    path: str
    kind: str
    #: Extra facts recorded with the artifact (e.g. an OCI manifest digest).
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedAction:
    """One thing a stage would do: shown in plans and dry-run reports."""

    action: str
    target: str = ""
    digest: str | None = None
    permission: str | None = None
    identity: str | None = None


@dataclass(frozen=True)
class RunFacts:
    """Facts about the whole run that provenance records."""

    #: Pipeline file, relative to the repository root, and its sha256.
    pipeline_file: str = ""
    pipeline_sha256: str = ""
    #: When the run started (RFC 3339, UTC) and a unique id for it.
    started: str = ""
    invocation_id: str = ""
    #: Whether builds ran network-isolated, and from a dirty tree.
    sandboxed: bool = True
    allow_dirty: bool = False
    #: Stages whose outputs were rebuilt and compared byte for byte.
    reproducible_stages: frozenset[str] = frozenset()
    #: ``--allow-broad-token``: accept a classic token whose scopes exceed a stage's needs.
    allow_broad_token: bool = False
    #: The pipeline's stages whose kind builds from the source tree.
    source_stages: frozenset[str] = frozenset()


@dataclass
class StageContext(Generic[C]):
    """Everything a stage may use while it runs; nothing else reaches it."""

    stage_id: str
    config: C
    pipeline: PipelineView
    out_dir: Path
    workspace: Workspace
    inputs: tuple[Artifact, ...]
    source: SourceFacts
    sandbox: Sandbox
    #: The build's environment: the engine's, plus the stage's own ``env``.
    env: Mapping[str, str]
    secrets: Mapping[str, str]
    dry_run: bool
    log: Callable[[str], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    facts: RunFacts = field(default_factory=RunFacts)
    #: The environment of the tools the engine runs for a stage (venv, pip download):
    #: the engine's alone, without the stage's ``env``.
    tool_env: Mapping[str, str] = field(default_factory=dict)
    #: Registers a secret the stage obtained while running (a minted token): from then
    #: on it is masked in every line the tool prints.
    add_secret: Callable[[str], None] = field(default=lambda value: None)

    def input_path(self, artifact: Artifact) -> Path:
        return artifact.resolve(self.out_dir.parent)


class StageKind(ABC, Generic[C]):
    """One kind of stage. Subclasses are registered in :mod:`release.stages`."""

    kind: ClassVar[str]
    description: ClassVar[str]
    config: ClassVar[type[StageConfig]]
    #: Whether the stage works on a clean export of the source tree.
    uses_source: ClassVar[bool] = False

    def permissions(self, config: C) -> PermissionSet:
        """The least privileges this configuration needs."""
        del config
        return NONE

    def effects(self, config: C) -> Effect:
        del config
        return Effect.LOCAL

    def secret_variables(self, config: C) -> frozenset[str]:
        """Names of outside environment variables this configuration reads (never printed)."""
        del config
        return frozenset()

    def declared_outputs(self, config: C) -> list[str]:
        """What the stage will write, as names or patterns, for the static plan."""
        del config
        return []

    def plan(self, ctx: StageContext[C]) -> list[PlannedAction]:
        """What the stage would do, with no side effects and no credentials."""
        return [PlannedAction(f"run {self.kind} stage {ctx.stage_id!r}")]

    @abstractmethod
    def run(self, ctx: StageContext[C]) -> list[Output]:
        """Do the work; write only under ``ctx.out_dir`` and return what was written."""


@runtime_checkable
class BuildsInDryRun(Protocol):
    """An external stage with a local part (e.g. an image build before its push).

    In a dry-run the engine runs it with ``ctx.dry_run`` set, records what it builds,
    and shows its plan; the stage must skip its external part.
    """

    def builds_in_dry_run(self, config: Any) -> bool: ...


class Expansion(Protocol):
    """One stage of a matrix (:class:`release.pipeline.matrix.Expansion`)."""

    @property
    def stage(self) -> str: ...
    def describe(self) -> str: ...


class RunnablePipeline(Protocol):
    """What the engine runs: a loaded, valid pipeline
    (:class:`release.pipeline.load.LoadedPipeline`)."""

    @property
    def path(self) -> Path: ...
    @property
    def text(self) -> str: ...
    @property
    def model(self) -> PipelineView: ...
    @property
    def permissions(self) -> Mapping[str, PermissionSet]: ...
    @property
    def needs(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def expansions(self) -> Mapping[str, Expansion]: ...
    def kind(self, stage_id: str) -> StageKind[Any]: ...
    def config(self, stage_id: str) -> StageConfig: ...
