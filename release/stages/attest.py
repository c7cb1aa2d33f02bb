"""``attest``: SLSA provenance for the artifacts of its needs, signed as a DSSE envelope.

Writes ``NAME.intoto.jsonl`` (one DSSE envelope per line, the form slsa-verifier reads
and OpenSSF Scorecard looks for among release assets) and, keyless, the Sigstore
bundle ``NAME.intoto.sigstore.json`` that carries the certificate and log entry. The
statement itself comes from :mod:`release.provenance.slsa`. With ``push-to-registry:
true``, each pushed image of its needs also gets provenance of its own (the image digest
its only subject), stored in the registry as a referrer of the image as cosign v3 stores
attestations (:mod:`release.signing.image_bundles`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from release.engine.contract import Effect, Output, PlannedAction, StageContext
from release.engine.manifest import select
from release.errors import StageFailed
from release.signing import KIND_ATTESTATION, KIND_BUNDLE, KIND_PUBLIC_KEY
from release.signing.options import (
    SigningConfig,
    SigningKind,
    describe_signer,
    open_signer,
    public_key_name,
)
from release.stages.attest_images import store_image_attestations
from release.stages.attest_statements import (
    BUNDLE_SUFFIX,
    ENVELOPES_SUFFIX,
    IMAGE_SBOM_SUFFIX,
    provenance_statement,
    sbom_base,
    sbom_statements,
    sbom_subjects_of,
    subjects_of,
)
from release.stages.base import Problem
from release.stages.images import (
    image_problems,
    planned_target,
    pushed,
    pushing_needs,
    registry_permissions,
)

if TYPE_CHECKING:
    from release.engine.contract import PipelineView
    from release.engine.manifest import Artifact
    from release.permissions import PermissionSet


class AttestConfig(SigningConfig):
    kind: Literal["attest"]
    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Globs over artifact names to attest.")
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                             description="Base name of the outputs (default: the pipeline "
                                         "name): NAME.intoto.jsonl.")
    sboms: bool = Field(default=True, description="Also attest each CycloneDX SBOM of its "
                                                  "needs (CycloneDX predicate, one file each).")
    push_to_registry: bool = Field(
        default=False, alias="push-to-registry",
        description="Also store provenance of each pushed image of its needs in the image's "
                    "registry, as a referrer of the image (what `cosign verify-attestation` "
                    "and `gh attestation verify --bundle-from-oci` read).")


class Attest(SigningKind[AttestConfig]):
    kind = "attest"
    description = "Sign SLSA v1 provenance for the artifacts of its needs (NAME.intoto.jsonl)."
    config = AttestConfig

    def pipeline_permissions(self, stage_id: str, config: AttestConfig,
                             pipeline: PipelineView) -> PermissionSet:
        """Storing provenance in a registry takes the image push's privileges."""
        del stage_id
        return registry_permissions(_image_needs(config, pipeline))

    def effects(self, config: AttestConfig) -> Effect:
        return Effect.EXTERNAL if config.push_to_registry else super().effects(config)

    def referrer_images(self, config: AttestConfig,
                        pipeline: PipelineView) -> list[tuple[str, Any]]:
        """The pushed images of its needs this stage stores referrers of."""
        return _image_needs(config, pipeline)

    def check_pipeline(self, stage_id: str, config: AttestConfig,
                       pipeline: PipelineView) -> list[Problem]:
        return image_problems(stage_id, _image_needs(config, pipeline),
                              config.push_to_registry, pipeline)

    def declared_outputs(self, config: AttestConfig) -> list[str]:
        bases = [config.name or "<pipeline>"] + (["*.cdx"] if config.sboms else [])
        images = (["*" + BUNDLE_SUFFIX] + (["*" + IMAGE_SBOM_SUFFIX] if config.sboms else [])
                  if config.push_to_registry else [])
        if config.backend == "key":
            return [b + ENVELOPES_SUFFIX for b in bases] + images + [
                config.public_key_name or "<stage>.pub"]
        return [b + suffix for b in bases for suffix in (ENVELOPES_SUFFIX, BUNDLE_SUFFIX)]

    def plan(self, ctx: StageContext[AttestConfig]) -> list[PlannedAction]:
        identity, where = describe_signer(ctx)
        perm = "id-token: write" if ctx.config.ambient_oidc else None
        steps = [PlannedAction("would attest", f"{name} (SLSA provenance v1)", f"sha256:{digest}")
                 for name, digest in subjects(ctx)]
        steps += [PlannedAction("would attest", f"{subject} (CycloneDX SBOM {sbom.name})",
                                f"sha256:{digest}") for sbom, subject, digest in sbom_subjects(ctx)]
        for base in [_base(ctx)] + [sbom_base(s) for s, _, _ in sbom_subjects(ctx)]:
            steps.append(PlannedAction("would sign", f"{base}{ENVELOPES_SUFFIX} at {where}",
                                       None, perm, identity))
        perms = registry_permissions(_image_needs(ctx.config, ctx.pipeline))
        image_perm = ", ".join(p for p in (perm, perms.describe() if perms else None) if p)
        if ctx.config.push_to_registry and not ctx.inputs:
            steps += [PlannedAction("would store provenance of the image of", f"stage {sid!r} "
                                    f"as a referrer at {cfg.push.repository}", None,
                                    image_perm or None, identity)
                      for sid, cfg in _image_needs(ctx.config, ctx.pipeline)]
        for art in _images(ctx):
            image = planned_target(art, ctx.pipeline)
            steps.append(PlannedAction(
                "would attest", f"{image} (SLSA provenance v1) and store the bundle as a "
                f"referrer at {image.split('/', 1)[0]} (tag fallback "
                f"{image.rsplit('@', 1)[1].replace(':', '-')})", image.rsplit("@", 1)[1],
                image_perm or None, identity))
        return steps

    def run(self, ctx: StageContext[AttestConfig]) -> list[Output]:
        subs = subjects(ctx)
        if not subs:
            raise StageFailed("nothing to attest: no artifact of its needs matches `include`",
                              "add the stages that build artifacts to `needs`")
        if ctx.dry_run:
            # a key-signing stage is local, so dry-run runs it; it must not open the key
            for step in self.plan(ctx):
                ctx.log(f"dry-run: {step.action} {step.target} {step.digest or ''}".rstrip())
            return []
        return _sign(ctx, [(_base(ctx), provenance_statement(ctx, subs)),
                           *sbom_statements(ctx, sbom_subjects(ctx))])


def _sign(ctx: StageContext[AttestConfig], statements: list[tuple[str, dict[str, Any]]]
          ) -> list[Output]:
    """Sign each statement into ``BASE.intoto.jsonl`` (and its bundle), with one signer."""
    signer = open_signer(ctx)
    outputs = []
    try:
        for base, statement in statements:
            signed = signer.sign_statement(statement)
            notes = dict(signed.annotations)
            envelopes = base + ENVELOPES_SUFFIX
            line = json.dumps(dict(signed.envelope), separators=(",", ":")) + "\n"
            (ctx.out_dir / envelopes).write_text(line, encoding="utf-8")
            outputs.append(Output(envelopes, KIND_ATTESTATION, notes))
            ctx.log(f"{envelopes}: {statement['predicateType']} for "
                    f"{len(statement['subject'])} subject(s)")
            if signed.bundle is not None:
                (ctx.out_dir / (base + BUNDLE_SUFFIX)).write_bytes(signed.bundle)
                outputs.append(Output(base + BUNDLE_SUFFIX, KIND_BUNDLE, notes))
        for art in _images(ctx):
            outputs += store_image_attestations(ctx, signer, art, sbom_subjects(ctx))
        pem = signer.public_key_pem()
    finally:
        signer.close()
    if pem is not None:
        (ctx.out_dir / public_key_name(ctx)).write_bytes(pem)
        outputs.append(Output(public_key_name(ctx), KIND_PUBLIC_KEY, dict(outputs[0].annotations)))
    return outputs


def _image_needs(config: AttestConfig, pipeline: PipelineView) -> list[tuple[str, Any]]:
    if not config.push_to_registry:
        return []
    return pushing_needs(config.needs, pipeline, config.include)


def _images(ctx: StageContext[AttestConfig]) -> list[Artifact]:
    """The pushed images among the attested artifacts, when provenance goes to registries."""
    if not ctx.config.push_to_registry:
        return []
    return [a for a in select(ctx.inputs, ctx.config.include) if pushed(a, ctx.pipeline)]


def _base(ctx: StageContext[AttestConfig]) -> str:
    return ctx.config.name or ctx.pipeline.name


def subjects(ctx: StageContext[AttestConfig]) -> list[tuple[str, str]]:
    """The subjects of this stage's statement: see :func:`subjects_of`."""
    return subjects_of(ctx.inputs, ctx.config.include)


def sbom_subjects(ctx: StageContext[AttestConfig]) -> list[tuple[Artifact, str, str]]:
    """The SBOMs among the inputs, when the stage attests them: see
    :func:`~release.stages.attest_statements.sbom_subjects_of`."""
    return sbom_subjects_of(ctx.inputs) if ctx.config.sboms else []
