"""Signing pushed images: which needs push them, the privileges that takes, and the targets.

A ``sign`` or ``attest`` stage that stores bundles in a registry writes where the image
went, with the same credential as the push: the privileges are those of the pushing
``oci-image`` stage (``packages: write`` for ghcr.io), derived from the pipeline.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from release.errors import StageFailed
from release.permissions import PermissionSet

if TYPE_CHECKING:
    from release.engine.contract import PipelineView, StageContext
    from release.engine.manifest import Artifact
    from release.oci.registry import Registry
    from release.signing.image_bundles import ImageTarget
    from release.stages.base import Problem
    from release.stages.oci_image import OciImageConfig

#: Artifact kind of an ``oci-image`` stage's archive, and the annotations it records.
IMAGE_KIND = "oci-image"
DIGEST = "org.opencontainers.image.digest"
REPOSITORY = "release.oci.repository"


def pushing_needs(needs: Sequence[str], pipeline: PipelineView,
                  names: Sequence[str] | None = None) -> list[tuple[str, OciImageConfig]]:
    """The ``oci-image`` stages among ``needs`` that push, whose archive matches a glob of
    ``names`` (all when None)."""
    found = []
    for sid in needs:
        config: Any = pipeline.stages.get(sid)
        if config is None or config.kind != IMAGE_KIND or config.push is None:
            continue
        if names is None or any(fnmatch.fnmatchcase(config.output, n) for n in names):
            found.append((sid, config))
    return found


def registry_permissions(images: list[tuple[str, OciImageConfig]]) -> PermissionSet:
    """What pushing to the images' registries takes: the pushing stages' own privileges."""
    from release.stages import KINDS

    perms = PermissionSet()
    for _, config in images:
        perms = perms.union(KINDS[IMAGE_KIND].permissions(config))
    return perms


@runtime_checkable
class WritesReferrers(Protocol):
    """A kind that stores signatures or attestations as referrers of its needs' images."""

    def referrer_images(self, config: Any, pipeline: PipelineView
                        ) -> list[tuple[str, OciImageConfig]]: ...


def image_problems(stage_id: str, images: list[tuple[str, OciImageConfig]],
                   required: bool, pipeline: PipelineView) -> list[Problem]:
    """Load-time problems of a stage that writes referrers of ``images``."""
    path: tuple[str | int, ...] = ("stages", stage_id)
    if required and not images:
        return [(path, f"stage {stage_id!r} signs images, but none of its needs is an "
                 "oci-image stage with `push:`", "add the stage that pushes the image to "
                 "`needs`; only a pushed image can have signatures in a registry")]
    problems: list[Problem] = [
        (path, f"stage {stage_id!r} would write to the registry of stage {sid!r}, which "
         "pushes with `password-env`; referrers are written with the GitHub token (ghcr.io) "
         "or anonymously (a loopback registry) only",
         "push to ghcr.io, or sign the image archive as a file") for sid, cfg in images
        if cfg.push is not None and cfg.push.password_env]
    return problems + _unordered(stage_id, {sid for sid, _ in images}, pipeline)


def _unordered(stage_id: str, mine: set[str], pipeline: PipelineView) -> list[Problem]:
    """Two stages writing referrers of one image must not run at once: without the
    referrers API the ``sha256-<hex>`` index is read, extended and written back, and the
    registry API has no atomic update, so concurrent writers can drop each other's entry."""
    from release.engine.dag import ancestors
    from release.stages import KINDS

    needs = {sid: list(cfg.needs) for sid, cfg in pipeline.stages.items()}
    order = list(pipeline.stages)
    problems: list[Problem] = []
    for other in order[:order.index(stage_id)] if mine else []:
        config: Any = pipeline.stages[other]
        kind = KINDS[config.kind]
        if not isinstance(kind, WritesReferrers):
            continue
        shared = mine & {sid for sid, _ in kind.referrer_images(config, pipeline)}
        try:
            ordered = other in ancestors(needs, stage_id) or stage_id in ancestors(needs, other)
        except KeyError:
            return []  # an unknown need: the graph check reports it
        if shared and not ordered:
            problems.append((("stages", stage_id, "needs"),
                             f"stages {other!r} and {stage_id!r} both store referrers of the "
                             f"image of {', '.join(sorted(shared))!r} and may run at once",
                             f"add {other!r} to the `needs` of {stage_id!r}: the referrers "
                             "index is updated by read-modify-write, which concurrent writers "
                             "can undo"))
    return problems


def pushed(art: Artifact, pipeline: PipelineView) -> bool:
    """Whether an artifact is the archive of an image its stage pushes (or, in a dry-run,
    would push)."""
    config: Any = pipeline.stages.get(art.stage)
    return (art.kind == IMAGE_KIND and DIGEST in art.annotations
            and getattr(config, "push", None) is not None)


def planned_target(art: Artifact, pipeline: PipelineView) -> str:
    """``repository@digest`` of a pushed image, from its stage's config (no network)."""
    config: Any = pipeline.stages[art.stage]
    return f"{config.push.repository}@{art.annotations[DIGEST]}"


@contextlib.contextmanager
def open_target(ctx: StageContext[Any], art: Artifact) -> Iterator[tuple[Registry,
                                                                          ImageTarget]]:
    """The registry of a pushed image, with the push's credential, and the image's
    descriptor as the registry serves it (checked against the recorded digest)."""
    from release.oci.build import push_credentials
    from release.oci.reference import parse_repository
    from release.oci.registry import Registry
    from release.signing.image_bundles import ImageTarget

    image_config: Any = ctx.pipeline.stages[art.stage]
    push = image_config.push
    repository, digest = art.annotations.get(REPOSITORY), art.annotations[DIGEST]
    if push is None or push.repository != repository:
        raise StageFailed(f"image {art.name} of stage {art.stage!r} was not pushed to "
                          f"{push.repository if push else 'a registry'}",
                          "run the image's stage (not a dry-run) before signing it")
    host, path = parse_repository(push.repository)
    with Registry(host, path, push=True,
                  credentials=push_credentials(push, ctx.secrets, ctx.env)) as reg:
        from release.oci.descriptor import Descriptor

        data, media_type = reg.get_manifest(digest)  # checked against the digest
        yield reg, ImageTarget(host, path, Descriptor(media_type, digest, len(data)))
