"""``sign``: sign artifacts of its needs (by default the checksums file) and record the signatures.

Signing the checksums file is what GoReleaser and many projects do: one signature
covers every artifact through ``sha256sum -c``. ``artifacts: all`` or a list of
globs signs files one by one instead. ``artifacts: images`` (or globs naming the archive
of a pushed image) signs the image in its registry, by manifest digest, as cosign v3
does (:mod:`release.signing.image_bundles`), and keeps the bundle as ``ARCHIVE.sigstore.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from release.engine.contract import Effect, Output, PlannedAction, StageContext
from release.engine.manifest import ensure_unique_names, select
from release.errors import StageFailed
from release.permissions import PermissionSet
from release.signing import (
    BACKEND,
    BUNDLE_SUFFIX,
    KIND_BUNDLE,
    KIND_PUBLIC_KEY,
    SIGNED_NAME,
    SIGNED_SHA256,
)
from release.signing.options import (
    SigningConfig,
    SigningKind,
    describe_signer,
    open_signer,
    public_key_name,
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

#: What ``artifacts: checksums`` selects: the artifacts of this manifest kind.
CHECKSUMS_KIND = "checksums"
#: Annotations of a bundle stored in a registry: the image, and the referrer's digest.
SIGNED_IMAGE = "signing.image"
REFERRER = "signing.referrer"
REFERRER_VIA = "signing.referrer-via"


class SignConfig(SigningConfig):
    kind: Literal["sign"]
    artifacts: Literal["checksums", "all", "images"] | list[str] = Field(
        default="checksums",
        description="`checksums` (the checksums files of its needs), `all`, `images` (the "
                    "pushed images of its needs, signed in their registry), or globs over "
                    "artifact names (a pushed image's archive is signed in its registry).")
    legacy_cosign_tag: bool = Field(
        default=False, alias="legacy-cosign-tag",
        description="Images: also write cosign 2's signature (a simple-signing payload "
                    "under the tag sha256-<hex>.sig) for consumers on cosign 2.")


class Sign(SigningKind[SignConfig]):
    kind = "sign"
    description = "Sign the checksums file (or chosen artifacts): Sigstore keyless or a key."
    config = SignConfig

    def pipeline_permissions(self, stage_id: str, config: SignConfig,
                             pipeline: PipelineView) -> PermissionSet:
        """Writing referrers takes the image push's privileges (``packages: write``)."""
        del stage_id
        return registry_permissions(_image_needs(config, pipeline))

    def effects(self, config: SignConfig) -> Effect:
        """Signing images writes to their registry, whatever the backend."""
        return Effect.EXTERNAL if config.artifacts == "images" else super().effects(config)

    def referrer_images(self, config: SignConfig, pipeline: PipelineView) -> list[tuple[str, Any]]:
        """The pushed images of its needs this stage stores referrers of."""
        return _image_needs(config, pipeline)

    def check_pipeline(self, stage_id: str, config: SignConfig,
                       pipeline: PipelineView) -> list[Problem]:
        images = _image_needs(config, pipeline)
        problems = image_problems(stage_id, images, config.artifacts == "images", pipeline)
        if images and isinstance(config.artifacts, list) and self.effects(config) is Effect.LOCAL:
            # a local stage runs without an approval; a write to a registry must have one
            problems.append((("stages", stage_id, "artifacts"),
                             f"stage {stage_id!r} would sign the pushed image of stage "
                             f"{images[0][0]!r} in its registry, but with `backend: key` and "
                             "globs it counts as local, which no approval covers",
                             "sign images in their own stage with `artifacts: images`"))
        return problems

    def declared_outputs(self, config: SignConfig) -> list[str]:
        if config.artifacts == "images":
            return ["*.sigstore.json"]
        if config.backend == "key":
            return ["*.sig", config.public_key_name or "<stage>.pub"]
        return ["*.sigstore.json"]

    def plan(self, ctx: StageContext[SignConfig]) -> list[PlannedAction]:
        identity, where = describe_signer(ctx)
        perm = "id-token: write" if ctx.config.ambient_oidc else None
        chosen, images = _selected(ctx)
        image_perm = ", ".join(p for p in (perm, _registry_permission(ctx)) if p) or None
        if not chosen and not images:
            # before the artifacts exist (what an approval binds): who, where, which registry
            steps = [PlannedAction("would sign with", where, None, perm, identity)]
            steps += [PlannedAction("would sign the image of", f"stage {sid!r} and store the "
                                    f"bundle as a referrer at {cfg.push.repository}", None,
                                    image_perm, identity)
                      for sid, cfg in _image_needs(ctx.config, ctx.pipeline) if cfg.push]
            return steps
        steps = [PlannedAction("would sign", f"{a.name} at {where}", f"sha256:{a.sha256}",
                               perm, identity) for a in chosen]
        return steps + [PlannedAction("would sign", _image_step(a, ctx), a.annotations[
            "org.opencontainers.image.digest"], image_perm, identity) for a in images]

    def run(self, ctx: StageContext[SignConfig]) -> list[Output]:
        chosen, images = _selected(ctx)
        if not chosen and not images:
            what = ctx.config.artifacts
            raise StageFailed(
                f"nothing to sign: no artifact of its needs matches `artifacts: {what}`",
                "add the checksums stage to `needs`, or choose `artifacts: all` or globs")
        if ctx.dry_run:
            # a key-signing stage is local, so dry-run runs it; it must not open the key
            for step in self.plan(ctx):
                ctx.log(f"dry-run: {step.action} {step.target} ({step.digest}) "
                        f"as {step.identity}")
            return []
        signer = open_signer(ctx)
        outputs: list[Output] = []
        try:
            for art in chosen:
                signed = signer.sign_file(ctx.input_path(art), art.sha256)
                name = art.name + signed.suffix
                (ctx.out_dir / name).write_bytes(signed.content)
                notes = {**signed.annotations, SIGNED_NAME: art.name,
                         SIGNED_SHA256: art.sha256}
                outputs.append(Output(name, signed.kind, notes))
                ctx.log(f"signed {art.name} (sha256:{art.sha256}) -> {name}")
            outputs += [_sign_image(ctx, signer, art) for art in images]
            pem = signer.public_key_pem()
            if pem is not None:
                name = public_key_name(ctx)
                (ctx.out_dir / name).write_bytes(pem)
                notes = {k: v for k, v in outputs[0].annotations.items()
                         if k not in (SIGNED_NAME, SIGNED_SHA256)}
                outputs.append(Output(name, KIND_PUBLIC_KEY, notes))
        finally:
            signer.close()
        return outputs


def _selected(ctx: StageContext[SignConfig]) -> tuple[list[Artifact], list[Artifact]]:
    """``(files signed as files, pushed images signed in their registry)``."""
    choice = ctx.config.artifacts
    images: list[Artifact] = []
    if choice == "checksums":
        arts = [a for a in ctx.inputs if a.kind == CHECKSUMS_KIND]
    elif choice == "all":
        arts = list(ctx.inputs)
    elif choice == "images":
        arts, images = [], [a for a in ctx.inputs if a.kind == "oci-image"]
        if not_pushed := [a.name for a in images if not pushed(a, ctx.pipeline)]:
            raise StageFailed(f"image {', '.join(not_pushed)} was not pushed: only an image "
                              "in a registry can be signed there",
                              "give its oci-image stage `push:`")
    else:
        arts = select(ctx.inputs, choice)
        images = [a for a in arts if pushed(a, ctx.pipeline)]
        arts = [a for a in arts if not pushed(a, ctx.pipeline)]
    ensure_unique_names([*arts, *images],
                        "signature files are named after artifacts; names must be unique")
    return (sorted(arts, key=lambda a: a.name.encode()),
            sorted(images, key=lambda a: a.name.encode()))


def _image_needs(config: SignConfig, pipeline: PipelineView) -> list[tuple[str, Any]]:
    names = None if config.artifacts == "images" else \
        [] if config.artifacts in ("checksums", "all") else list(config.artifacts)
    return pushing_needs(config.needs, pipeline, names)


def _registry_permission(ctx: StageContext[SignConfig]) -> str | None:
    perms = registry_permissions(_image_needs(ctx.config, ctx.pipeline))
    return perms.describe() if perms else None


def _sign_legacy(ctx: StageContext[SignConfig], signer: Any, reg: Any, target: Any) -> None:
    """cosign 2's layout: the simple-signing payload, built and signed by the signer (never
    a file: files that are such payloads are refused), under ``.sig``."""
    from release.oci.legacy_cosign import attach_legacy, layer_annotations

    payload, signed = signer.sign_image_payload(target.name, target.subject.digest)
    bundle = signed.content if signed.kind == KIND_BUNDLE else None
    attach_legacy(reg, target.subject.digest, payload,
                  layer_annotations(signed.content, bundle), ctx.log)


def _image_step(art: Artifact, ctx: StageContext[SignConfig]) -> str:
    from release.oci.referrers import fallback_tag

    image = planned_target(art, ctx.pipeline)
    host = image.split("/", 1)[0]
    return (f"{image} and store the bundle as a referrer at {host} (tag fallback "
            f"{fallback_tag(image.rsplit('@', 1)[1])})")


def _sign_image(ctx: StageContext[SignConfig], signer: Any, art: Artifact) -> Output:
    """Sign a pushed image in its registry; keep the bundle as ``ARCHIVE.sigstore.json``."""
    from release.signing.image_bundles import sign_image
    from release.stages.images import open_target

    with open_target(ctx, art) as (reg, target):
        bundle, attached = sign_image(signer, reg, target, ctx.log)
        if ctx.config.legacy_cosign_tag:
            _sign_legacy(ctx, signer, reg, target)
    name = art.name + BUNDLE_SUFFIX
    (ctx.out_dir / name).write_bytes(bundle)
    ctx.log(f"signed {target.name}@{target.subject.digest} -> {name} (referrer "
            f"{attached.digest})")
    notes = {BACKEND: signer.backend, SIGNED_IMAGE: f"{target.name}@{target.subject.digest}",
             REFERRER: attached.digest, REFERRER_VIA: attached.via}
    return Output(name, KIND_BUNDLE, notes)
