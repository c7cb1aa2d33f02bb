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
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import Field

from release.engine.manifest import select
from release.errors import ReleaseError, StageFailed
from release.signing import KIND_ATTESTATION, KIND_BUNDLE, KIND_PUBLIC_KEY, Signer
from release.signing.options import (
    SigningConfig,
    SigningKind,
    describe_signer,
    open_signer,
    public_key_name,
)
from release.stages.base import (
    Effect,
    Output,
    PlannedAction,
    Problem,
    StageConfig,
    StageContext,
)
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

#: Set by image-building stages: the image manifest (or index) digest, ``sha256:<hex>``.
OCI_DIGEST = "org.opencontainers.image.digest"
#: Set by image-building stages that push: the repository the image went to.
OCI_REPOSITORY = "release.oci.repository"
#: Artifact kind of the ``sbom`` stage's CycloneDX files.
SBOM_KIND = "sbom"
ENVELOPES_SUFFIX = ".intoto.jsonl"
BUNDLE_SUFFIX = ".intoto.sigstore.json"
#: The bundle of an image's SBOM attestation stored in its registry: ARCHIVE.cdx.sigstore.json.
IMAGE_SBOM_SUFFIX = ".cdx.sigstore.json"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@runtime_checkable
class ResolvesInputs(Protocol):
    """A stage kind that pins build inputs by digest (a base image, certificates).

    ``resolved_inputs`` returns in-toto ResourceDescriptors, ``{"uri", "digest"}``,
    which provenance lists under ``resolvedDependencies``.
    """

    def resolved_inputs(self, config: Any) -> list[dict[str, Any]]: ...


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
        for base in [_base(ctx)] + [_sbom_base(s) for s, _, _ in sbom_subjects(ctx)]:
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
        return _sign(ctx, [(_base(ctx), _provenance(ctx, subs)), *_sbom_statements(ctx)])


def _provenance(ctx: StageContext[AttestConfig], subs: list[tuple[str, str]]
                ) -> dict[str, Any]:
    """The SLSA provenance statement of this run for ``subs`` (``(name, sha256 hex)``)."""
    from release.provenance.slsa import build_provenance_statement
    from release.signing import runfacts

    facts = ctx.facts
    try:
        statement: dict[str, Any] = build_provenance_statement(
            subjects=subs, pipeline_file=facts.pipeline_file,
            pipeline_sha256=facts.pipeline_sha256, stages=runfacts.upstream_stages(ctx),
            source=ctx.source, resolved=resolved_inputs(ctx),
            builder_id=runfacts.builder_id(ctx.env),
            invocation_id=facts.invocation_id, started=facts.started,
            finished=runfacts.now(), sandboxed=runfacts.sandboxed(ctx),
            reproducible_checked=runfacts.reproducible_checked(ctx))
    except ReleaseError as exc:
        raise StageFailed(f"cannot build the provenance statement: {exc.message}",
                          exc.hint) from None
    return statement


def _sbom_statements(ctx: StageContext[AttestConfig]) -> list[tuple[str, dict[str, Any]]]:
    from release.provenance.sbom import sbom_statement

    found = []
    for sbom, subject, digest in sbom_subjects(ctx):
        text = ctx.input_path(sbom).read_text(encoding="utf-8")
        found.append((_sbom_base(sbom), sbom_statement(subject, digest, text)))
    return found


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
            outputs += _store_image_attestations(ctx, signer, art)
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


def _store_image_attestations(ctx: StageContext[AttestConfig], signer: Signer,
                              art: Artifact) -> list[Output]:
    """Provenance whose one subject is the image digest (and the image's SBOM, when one of
    the needs describes it), each stored as a referrer of the image; the bundles are kept
    as ``ARCHIVE.intoto.sigstore.json`` and ``ARCHIVE.cdx.sigstore.json``."""
    from release.provenance.sbom import sbom_statement
    from release.signing.image_bundles import sign_and_store
    from release.stages.images import open_target

    sboms = [s for s, name, digest in sbom_subjects(ctx)
             if name == art.name and digest == art.sha256]
    outputs = []
    with open_target(ctx, art) as (reg, target):
        hexdigest = target.subject.digest.removeprefix("sha256:")
        statements = [(BUNDLE_SUFFIX, _provenance(ctx, [(target.name, hexdigest)]))]
        statements += [(IMAGE_SBOM_SUFFIX, sbom_statement(
            target.name, hexdigest, ctx.input_path(s).read_text(encoding="utf-8")))
            for s in sboms]
        for suffix, statement in statements:
            signed, bundle, attached = sign_and_store(signer, reg, target, statement, ctx.log)
            (ctx.out_dir / (art.name + suffix)).write_bytes(bundle)
            ctx.log(f"{art.name + suffix}: {statement['predicateType']} of {target.name}@"
                    f"{target.subject.digest}, referrer {attached.digest}")
            outputs.append(Output(art.name + suffix, KIND_BUNDLE, {
                **signed.annotations, "signing.image": f"{target.name}@{target.subject.digest}",
                "signing.referrer": attached.digest, "signing.referrer-via": attached.via}))
    return outputs


def _base(ctx: StageContext[AttestConfig]) -> str:
    return ctx.config.name or ctx.pipeline.name


def _sbom_base(sbom: Artifact) -> str:
    return sbom.name.removesuffix(".json")


def sbom_subjects(ctx: StageContext[AttestConfig]) -> list[tuple[Artifact, str, str]]:
    """``(sbom artifact, subject name, subject sha256)`` for each SBOM among the inputs.

    The subject comes from the annotations the ``sbom`` stage records, which the
    manifest carries from stage to stage like the digests themselves.
    """
    if not ctx.config.sboms:
        return []
    found = []
    for art in sorted(ctx.inputs, key=lambda a: a.name.encode()):
        if art.kind != SBOM_KIND:
            continue
        name, digest = art.annotations.get("subject"), art.annotations.get("subject-sha256")
        if not name or not digest or not _HEX64.match(digest):
            raise StageFailed(f"SBOM {art.name} (stage {art.stage!r}) does not name the "
                              "artifact it describes", "produce SBOMs with the sbom stage")
        found.append((art, name, digest))
    return found


def subjects(ctx: StageContext[AttestConfig]) -> list[tuple[str, str]]:
    """The subjects of this stage's statement: see :func:`subjects_of`."""
    return subjects_of(ctx.inputs, ctx.config.include)


def subjects_of(artifacts: Iterable[Artifact], include: list[str]) -> list[tuple[str, str]]:
    """``(name, sha256 hex)`` per included artifact, sorted by name.

    An artifact annotated with an image digest (:data:`OCI_DIGEST`) is also a subject
    by that digest, named by the repository it was pushed to (:data:`OCI_REPOSITORY`)
    or else by its file name without ``.tar``: registries and ``gh attestation verify
    oci://...`` match images by manifest digest, not by the archive's bytes.
    """
    found: list[tuple[str, str]] = []
    for art in select(artifacts, include):
        found.append((art.name, art.sha256))
        digest = art.annotations.get(OCI_DIGEST)
        if digest is not None:
            hexdigest = digest.removeprefix("sha256:")
            if not digest.startswith("sha256:") or not _HEX64.match(hexdigest):
                raise StageFailed(f"artifact {art.name} (stage {art.stage!r}) has image digest "
                                  f"{digest!r}", "expected sha256:<64 hex digits>")
            image = art.annotations.get(OCI_REPOSITORY) or art.name.removesuffix(".tar")
            found.append((image, hexdigest))
    return found


def resolved_inputs(ctx: StageContext[AttestConfig]) -> list[dict[str, Any]]:
    """The digest-pinned inputs of the attested artifacts: what upstream stages of a
    :class:`ResolvesInputs` kind declare (base images), and what the stages that built
    the inputs recorded having fetched (command locks, python-dist's wheels, certificates)."""
    from release.provenance.fetched import fetched_inputs
    from release.signing.runfacts import upstream_stages
    from release.stages import KINDS

    found: list[dict[str, Any]] = []
    for sid in upstream_stages(ctx):
        config: StageConfig = ctx.pipeline.stages[sid]
        kind = KINDS[config.kind]
        if isinstance(kind, ResolvesInputs):
            found.extend(d for d in kind.resolved_inputs(config) if d not in found)
    found.extend(d for d in fetched_inputs(ctx.inputs) if d not in found)
    return found
