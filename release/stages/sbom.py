"""``sbom``: a CycloneDX JSON SBOM beside each wheel, sdist, executable and image of its
needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from release.engine.contract import Output, PlannedAction, StageConfig, StageContext, StageKind
from release.engine.manifest import select
from release.errors import ReleaseError, StageFailed
from release.provenance.sbom import sbom_format

if TYPE_CHECKING:
    from release.engine.manifest import Artifact

SUFFIX = ".cdx.json"


class SbomConfig(StageConfig):
    kind: Literal["sbom"]
    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Globs over artifact names to describe.")


class Sbom(StageKind[SbomConfig]):
    kind = "sbom"
    description = ("Write a CycloneDX SBOM (<name>.cdx.json) per wheel, sdist, executable and "
                   "image.")
    config = SbomConfig

    def declared_outputs(self, config: SbomConfig) -> list[str]:
        del config
        return [f"*{SUFFIX}"]

    def plan(self, ctx: StageContext[SbomConfig]) -> list[PlannedAction]:
        return [PlannedAction("describe", f"{a.name} -> {a.name}{SUFFIX}", f"sha256:{a.sha256}")
                for a in _described(ctx)]

    def run(self, ctx: StageContext[SbomConfig]) -> list[Output]:
        from release.provenance.sbom import sbom_json

        described = _described(ctx)
        if not described:
            raise StageFailed(
                "no wheel, sdist, executable or image among the artifacts of its needs",
                "add the stages that build them to `needs` (command stages: "
                "artifact-kind: executable), or widen `include`")
        outputs = []
        for art in described:
            fmt = sbom_format(art.name, art.kind)
            assert fmt is not None  # _described keeps only describable artifacts
            try:
                text = sbom_json(ctx.input_path(art), fmt, sha256=art.sha256,
                                 epoch=ctx.source.epoch)
            except ReleaseError as exc:
                raise StageFailed(f"cannot describe {art.name} (stage {art.stage!r}): "
                                  f"{exc.message}", exc.hint) from exc
            name = f"{art.name}{SUFFIX}"
            (ctx.out_dir / name).write_text(text, encoding="utf-8")
            ctx.log(f"{name}: CycloneDX SBOM of {art.name}")
            outputs.append(Output(name, "sbom", {"subject": art.name,
                                                 "subject-sha256": art.sha256,
                                                 "format": "cyclonedx-json"}))
        return outputs


def _described(ctx: StageContext[SbomConfig]) -> list[Artifact]:
    return [a for a in select(ctx.inputs, ctx.config.include)
            if sbom_format(a.name, a.kind) is not None]
