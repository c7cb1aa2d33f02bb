"""``checksums``: a ``SHA256SUMS`` file (GNU coreutils format) over the artifacts of its needs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from release.engine.contract import Output, PlannedAction, StageConfig, StageContext, StageKind
from release.engine.digest import file_digests
from release.engine.manifest import ensure_unique_names, select
from release.errors import StageFailed


class ChecksumsConfig(StageConfig):
    kind: Literal["checksums"]
    output: str = Field(default="SHA256SUMS", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Globs over artifact names to cover.")
    sha512: bool = Field(default=False, description="Also write SHA512SUMS.")


class Checksums(StageKind[ChecksumsConfig]):
    kind = "checksums"
    description = "Write SHA256SUMS (and optionally SHA512SUMS) over the artifacts of its needs."
    config = ChecksumsConfig

    def declared_outputs(self, config: ChecksumsConfig) -> list[str]:
        return [config.output] + (["SHA512SUMS"] if config.sha512 else [])

    def plan(self, ctx: StageContext[ChecksumsConfig]) -> list[PlannedAction]:
        return [PlannedAction("checksum", a.name, f"sha256:{a.sha256}") for a in _covered(ctx)]

    def run(self, ctx: StageContext[ChecksumsConfig]) -> list[Output]:
        covered = _covered(ctx)
        if not covered:
            raise StageFailed("no artifacts to checksum",
                              "add the stages that produce artifacts to `needs`")
        # digests come from the manifest; the engine re-verified every input before this stage
        lines = [f"{a.sha256}  {a.name}\n" for a in covered]
        (ctx.out_dir / ctx.config.output).write_text("".join(lines), encoding="utf-8")
        outputs = [Output(ctx.config.output, "checksums")]
        if ctx.config.sha512:
            digests = file_digests((ctx.input_path(a) for a in covered), "sha512")
            text = "".join(f"{d}  {a.name}\n" for a, d in zip(covered, digests, strict=True))
            (ctx.out_dir / "SHA512SUMS").write_text(text, encoding="utf-8")
            outputs.append(Output("SHA512SUMS", "checksums"))
        return outputs


def _covered(ctx: StageContext[ChecksumsConfig]) -> list:  # type: ignore[type-arg]
    arts = select(ctx.inputs, ctx.config.include)
    ensure_unique_names(arts, "artifact names must be unique across the stages checksummed")
    return arts
