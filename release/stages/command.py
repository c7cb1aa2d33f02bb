"""``command``: run a toolchain (go build, cargo, zipapp...) in the sandbox; declare outputs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from release.permissions import PermissionSet
from release.stages.base import Output, PlannedAction, StageConfig, StageContext, StageKind


class CommandConfig(StageConfig):
    kind: Literal["command"]
    run: list[str] = Field(min_length=1, description="argv; `{out}` is the output directory.")
    outputs: list[str] = Field(min_length=1, description="Files or globs relative to {out}.")
    artifact_kind: str = Field(default="binary", alias="artifact-kind",
                               pattern=r"^[a-z][a-z0-9-]*$")
    sandbox: bool = Field(
        default=False,
        description="In the generated GitHub Actions workflow, run this stage inside "
        "geomys/sandboxed-step, so code it runs (e.g. tests against the latest "
        "dependencies) cannot reach the runner's other credentials.")

    @field_validator("run")
    @classmethod
    def _run(cls, value: list[str]) -> list[str]:
        if any("\0" in arg for arg in value):
            raise ValueError("an argument holds a NUL character, which no program can receive")
        return value

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.startswith("/") or ".." in pattern.split("/"):
                raise ValueError(f"output {pattern!r} must stay inside the output directory")
        return value


class Command(StageKind[CommandConfig]):
    kind = "command"
    description = "Run a build command in the sandbox (no network) and record its outputs."
    config = CommandConfig
    uses_source = True

    def permissions(self, config: CommandConfig) -> PermissionSet:
        return config.permissions.to_set() if config.permissions else PermissionSet()

    def declared_outputs(self, config: CommandConfig) -> list[str]:
        return list(config.outputs)

    def plan(self, ctx: StageContext[CommandConfig]) -> list[PlannedAction]:
        argv = " ".join(a.replace("{out}", str(ctx.out_dir)) for a in ctx.config.run)
        return [PlannedAction("run", argv)]

    def run(self, ctx: StageContext[CommandConfig]) -> list[Output]:
        argv = [a.replace("{out}", str(ctx.out_dir)) for a in ctx.config.run]
        ws = ctx.workspace
        ctx.sandbox.run(
            argv, ws, env=ctx.env, cwd=ws.src, writable=[ctx.out_dir],
            readable=[ctx.input_path(a) for a in ctx.inputs],
            timeout=ctx.config.timeout_seconds, log=ctx.log, cancel=ctx.cancel,
        )
        found: list[str] = []
        for pattern in ctx.config.outputs:
            matches = sorted(p.relative_to(ctx.out_dir).as_posix()
                             for p in ctx.out_dir.glob(pattern))
            if not matches:
                matches = [pattern]  # reported as missing by the engine
            found.extend(m for m in matches if m not in found)
        return [Output(m, ctx.config.artifact_kind) for m in found]

