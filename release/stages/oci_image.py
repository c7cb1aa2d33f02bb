"""``oci-image``: a container image built without a daemon, reproducibly, on a pinned base.

Files come from the artifacts of the stage's needs; the base is ``scratch`` or an image
pinned by digest; the output is an OCI image layout archive whose manifest (or index)
digest is recorded with the artifact, and, with ``push:``, the image in a registry.
"""

from __future__ import annotations

import fnmatch
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
)

from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.errors import ReleaseError, StageFailed
from release.oci.descriptor import DIGEST_ANNOTATION, Platform
from release.oci.model import FileEntry, ImageSettings, PushTarget, check_platform, file_entry
from release.oci.reference import TAG, Reference
from release.permissions import NONE, Level, PermissionSet

if TYPE_CHECKING:
    from release.engine.contract import PipelineView

GHCR = "ghcr.io"
#: A yaml path, a message and a hint: one problem found by :meth:`OciImage.check_pipeline`.
Problem = tuple[tuple[str | int, ...], str, str | None]


class OciImageConfig(StageConfig):
    kind: Literal["oci-image"]
    base: str = Field(default="scratch", description=(
        "`scratch`, or a base image pinned by digest: name@sha256:..."))
    platforms: list[Annotated[str, AfterValidator(check_platform)]] = Field(
        default_factory=lambda: ["linux/amd64"], min_length=1)
    files: dict[str, Annotated[FileEntry, BeforeValidator(
        file_entry, json_schema_input_type=str | FileEntry)]] = Field(
        default_factory=dict, validate_default=True,
        description="Artifact name -> path (or {path, mode, platform}).")
    config: ImageSettings = Field(default_factory=ImageSettings)
    push: PushTarget | None = None
    output: str = Field(default="image.oci.tar", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        if value == "scratch":
            return value
        if Reference.parse(value).digest is None:
            raise ValueError(
                f"base {value!r} is pinned by tag only; a tag can move, so pin the digest: "
                f"{value}@sha256:<digest> (`skopeo inspect docker://{value}` shows it)")
        return value

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a platform is listed twice")
        return value

    @field_validator("files")
    @classmethod
    def _files(cls, value: dict[str, FileEntry], info: ValidationInfo
               ) -> dict[str, FileEntry]:
        platforms = info.data.get("platforms") or []
        for name, entry in value.items():
            if entry.platform is not None and entry.platform not in platforms:
                raise ValueError(f"file {name!r} is for {entry.platform}, which is not in "
                                 f"platforms ({', '.join(platforms)})")
        for platform in platforms:
            paths = [e.path for e in value.values() if e.platform in (None, platform)]
            for path in paths:
                if paths.count(path) > 1:
                    raise ValueError(f"two files are mapped to {path} in the {platform} image")
            if not paths and info.data.get("base") == "scratch":
                raise ValueError(f"the {platform} image would be empty: a scratch image "
                                 "needs `files`")
        return value

    @property
    def base_reference(self) -> Reference | None:
        return None if self.base == "scratch" else Reference.parse(self.base)

    @property
    def platform_list(self) -> list[Platform]:
        return [Platform.parse(p) for p in self.platforms]


class OciImage(StageKind[OciImageConfig]):
    kind = "oci-image"
    description = ("Build an OCI image reproducibly from artifacts on a digest-pinned base; "
                   "optionally push it, verified by digest.")
    config = OciImageConfig

    def permissions(self, config: OciImageConfig) -> PermissionSet:
        if config.push and config.push.host == GHCR:
            return PermissionSet({"packages": Level.WRITE})
        return NONE

    def effects(self, config: OciImageConfig) -> Effect:
        if config.push:
            return Effect.EXTERNAL
        return Effect.LOCAL if config.base == "scratch" else Effect.NETWORK

    def secret_variables(self, config: OciImageConfig) -> frozenset[str]:
        if config.push and config.push.password_env:
            return frozenset({config.push.password_env})
        return frozenset()

    def declared_outputs(self, config: OciImageConfig) -> list[str]:
        return [config.output]

    def resolved_inputs(self, config: OciImageConfig) -> list[dict[str, Any]]:
        """The base image as an in-toto ResourceDescriptor, for provenance.

        The URI is a package URL of type ``oci``
        (https://github.com/package-url/purl-spec/blob/main/PURL-TYPES.rst#oci).
        """
        ref = config.base_reference
        if ref is None or ref.digest is None:
            return []
        hexdigest = ref.digest.removeprefix("sha256:")
        name = ref.repository.rsplit("/", 1)[-1]
        return [{"uri": f"pkg:oci/{name}@sha256%3A{hexdigest}?repository_url="
                        f"{ref.host}/{ref.repository}",
                 "digest": {"sha256": hexdigest}, "name": str(ref)}]

    def check_pipeline(self, stage_id: str, config: OciImageConfig,
                       pipeline: PipelineView) -> list[Problem]:
        """Cross-stage checks: every file names an artifact one of the needs declares."""
        from release.stages import KINDS

        patterns: list[str] = []
        for need in config.needs:
            other = pipeline.stages.get(need)
            if other is None:
                return []  # the graph check reports the unknown need
            declared = KINDS[other.kind].declared_outputs(other)
            if not declared:
                return []  # outputs known only at run time; run() checks them
            patterns += [PurePosixPath(p).name for p in declared]
        problems: list[Problem] = []
        for name in config.files:
            if not any(fnmatch.fnmatchcase(name, pat) for pat in patterns):
                needs = ", ".join(config.needs) or "no stage"
                problems.append((
                    ("stages", stage_id, "files", name),
                    f"stage {stage_id!r} maps file {name!r}, but none of its needs ({needs}) "
                    "produces an artifact of that name",
                    f"the needs declare: {', '.join(patterns)}" if patterns else
                    "add the stage that builds it to `needs`"))
        return problems

    def builds_in_dry_run(self, config: OciImageConfig) -> bool:
        """A dry-run builds the image (its digest is what reviewers approve), never pushes."""
        del config
        return True

    def plan(self, ctx: StageContext[OciImageConfig]) -> list[PlannedAction]:
        cfg = ctx.config
        steps: list[PlannedAction] = []
        ref = cfg.base_reference
        if ref:
            steps.append(PlannedAction("pull base", str(ref), ref.digest))
        digest = None
        # with needs, only their artifacts make the image (a plan made before they exist,
        # as an approval binds it, does not build); without, the base alone does
        if ctx.inputs or not (cfg.files or cfg.needs):
            from release.oci import build  # httpx: not at plan time

            try:
                with tempfile.TemporaryDirectory(prefix="release-oci-plan-") as tmp:
                    digest = build.build_image(ctx, Path(tmp) / "layout", Path(tmp) / "image")
            except ReleaseError as exc:
                steps.append(PlannedAction("cannot compute the image digest", exc.message))
        steps.append(PlannedAction("build image", ", ".join(cfg.platforms), digest))
        if cfg.push:
            perm = "packages: write" if cfg.push.host == GHCR else None
            steps.append(PlannedAction("push image", cfg.push.repository, digest, perm))
            for tag in tags(ctx):
                steps.append(PlannedAction("move tag", f"{cfg.push.repository}:{tag}", digest,
                                           perm))
        return steps

    def run(self, ctx: StageContext[OciImageConfig]) -> list[Output]:
        from release.oci import build

        cfg = ctx.config
        layout_dir = ctx.workspace.tmp / "layout"
        digest = build.build_image(ctx, layout_dir, ctx.out_dir / cfg.output)
        ctx.log(f"built {cfg.output}: {digest}")
        notes = {DIGEST_ANNOTATION: digest}
        if cfg.push and not ctx.dry_run:
            build.push_image(ctx, layout_dir, tags(ctx))
            notes["release.oci.repository"] = cfg.push.repository
        return [Output(cfg.output, "oci-image", notes)]


def tags(ctx: StageContext[OciImageConfig]) -> list[str]:
    """The push tags with ``{version}`` filled in; each must still be a valid tag.

    OCI tags have no ``+``: the ``+`` of a version's local part or build metadata becomes
    ``_`` (as Helm does), which neither PEP 440 nor SemVer versions otherwise contain.
    """
    push = ctx.config.push
    out = []
    for template in push.tags if push else []:
        tag = template.replace("{version}", ctx.source.version.replace("+", "_"))
        if not TAG.match(tag):
            raise StageFailed(f"tag {template!r} becomes {tag!r}, which is not a valid tag",
                              "tags allow letters, digits, '_', '.' and '-', and at most "
                              "128 characters")
        out.append(tag)
    return out

