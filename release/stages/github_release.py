"""``github-release``: publish the artifacts of its needs as an immutable GitHub release.

Draft first, every asset uploaded and its stored digest checked, attestations stored,
publish as the single last write, then read back. Resumable: a re-run completes our own
draft. githubkit is imported only when the stage runs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.engine.manifest import ensure_unique_names, select
from release.errors import StageFailed
from release.github.operations import operation
from release.github.tokens import TokenConfig
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    from release.engine.manifest import Artifact
    from release.github.publish import ReleaseSpec

RECORD = "release.json"
#: The longest release body GitHub accepts, in characters.
MAX_NOTES = 125_000
#: Set to "1" by the CLI's --allow-broad-token (the engine passes it to the stage).


class GitHubReleaseConfig(StageConfig):
    kind: Literal["github-release"]
    tag: str | None = Field(default=None, description="Tag to release (default: the source's).")
    title: str | None = Field(default=None, description="Release title (default: the tag).")
    notes: str | None = Field(default=None,
                              description="Notes file, committed, relative to `source.path`.")
    generate_notes: bool = Field(default=False, alias="generate-notes",
                                 description="Let GitHub generate the notes.")
    prerelease: bool = False
    make_latest: Literal["true", "false", "legacy"] = Field(default="true", alias="make-latest")
    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Globs over artifact names to publish as assets.")
    exclude: list[str] = Field(default_factory=list)
    attestations: bool = Field(default=False, description=(
        "Store the attestation bundles of its needs with GitHub (needs attestations: write)."))
    immutable: Literal["required", "optional"] = "required"
    read_setting: bool = Field(default=False, alias="read-setting", description=(
        "Read the immutable-releases setting before publishing; needs a token with "
        "administration: read (an App or fine-grained token, never GITHUB_TOKEN)."))
    token: TokenConfig = Field(default_factory=TokenConfig)

    @model_validator(mode="after")
    def _notes(self) -> GitHubReleaseConfig:
        if self.notes is not None and self.generate_notes:
            raise ValueError("set either `notes` (a file) or `generate-notes: true`, not both")
        if self.read_setting and self.token.source == "github-token":
            raise ValueError("`read-setting` needs administration access, which GITHUB_TOKEN "
                             "cannot have: use an App or a fine-grained token")
        return self


class GitHubRelease(StageKind[GitHubReleaseConfig]):
    kind = "github-release"
    description = "Publish the artifacts of its needs as an immutable GitHub release."
    config = GitHubReleaseConfig

    def permissions(self, config: GitHubReleaseConfig) -> PermissionSet:
        levels = {"contents": Level.WRITE}
        if config.attestations:
            levels["attestations"] = Level.WRITE
        return PermissionSet(levels)

    def effects(self, config: GitHubReleaseConfig) -> Effect:
        del config
        return Effect.EXTERNAL

    def secret_variables(self, config: GitHubReleaseConfig) -> frozenset[str]:
        return config.token.variables()

    def declared_outputs(self, config: GitHubReleaseConfig) -> list[str]:
        del config
        return [RECORD]

    def plan(self, ctx: StageContext[GitHubReleaseConfig]) -> list[PlannedAction]:
        from release.github.urls import api_url

        cfg = ctx.config
        repository = _repository(ctx, strict=False)
        tag = cfg.tag or ctx.source.tag or "(no release tag)"
        perms = self.permissions(cfg)
        who = cfg.token.describe(repository, perms)
        short = {"github-token": "GITHUB_TOKEN", "token": f"${cfg.token.variable}",
                 "app": "App installation token"}[cfg.token.source]

        def call(op_id: str, action: str, target: str = "", digest: str | None = None
                 ) -> PlannedAction:
            op = operation(op_id)
            return PlannedAction(f"{action} [{op.method} {op.path}]", target, digest,
                                 op.describe_permission(), short)

        steps = [PlannedAction("GitHub API", api_url(ctx.env), identity=who),
                 call("repos/get", "read the repository", repository),
                 call("git/get-ref", "check the tag points at the built commit",
                      f"{tag} -> {ctx.source.commit}")]
        if cfg.read_setting:
            steps.append(call("repos/check-immutable-releases",
                              "require immutable releases to be on", repository))
        else:
            steps.append(PlannedAction(
                "immutable-releases setting not read:",
                "it needs administration access, which this token does not get; the "
                "published release must report immutable: true"
                + ("" if cfg.immutable == "required" else " (immutable: optional)")))
        steps += [call("repos/list-releases", "find a published release (identical = no-op) "
                       "or our draft to resume", tag),
                  _notes_step(ctx),
                  call("repos/create-release", "create a draft release",
                       f"{tag} {cfg.title or tag!r}" + (" prerelease" if cfg.prerelease else ""))]
        assets, bundles = _select(ctx)
        steps += [call("repos/upload-release-asset", "upload asset to upload_url",
                       f"{a.name} ({a.size} bytes)", f"sha256:{a.sha256}") for a in assets]
        steps += [call("repos/create-attestation", "store attestation", a.name,
                       f"sha256:{a.sha256}") for a in bundles]
        steps += [call("repos/update-release", "publish (draft=false, the last write)",
                       f"{tag} make_latest={cfg.make_latest}"),
                  call("repos/get-release-by-tag", "read back: immutable and every digest", tag)]
        return steps

    def run(self, ctx: StageContext[GitHubReleaseConfig]) -> list[Output]:
        from release.github.client import ScopedGitHub
        from release.github.drift import check_job_permissions
        from release.github.publish import Publisher
        from release.github.tokens import check_classic_scopes, stage_token
        from release.github.urls import api_url

        cfg = ctx.config
        needed = self.permissions(cfg)
        note = check_job_permissions(ctx.env, ctx.source.root, needed, stage=ctx.stage_id,
                                     uses_job_token=cfg.token.source == "github-token")
        if note:
            ctx.log(note)
        spec = self._spec(ctx)
        extra = {"administration": Level.READ} if cfg.read_setting else {}
        base = api_url(ctx.env)
        with stage_token(cfg.token, ctx.secrets, repository=spec.repository, permissions=needed,
                         extra=extra, base_url=base, stage=ctx.stage_id, log=ctx.log) as tok, \
                ScopedGitHub(spec.repository, needed, token=tok.value, stage=ctx.stage_id,
                             base_url=base, extra=extra, log=ctx.log) as gh:
            repo = gh.call("repos/get")
            # `release run --allow-broad-token` reaches the stage as this variable
            broad = cfg.token.allow_broad_token or ctx.facts.allow_broad_token
            check_classic_scopes(gh.last_headers, needed, private=bool(repo.get("private")),
                                 allow_broad=broad, stage=ctx.stage_id, log=ctx.log)
            result = Publisher(gh, spec, log=ctx.log, cancelled=ctx.cancel.is_set).publish()
        record = {**result.to_json(spec), "token": tok.source}
        (ctx.out_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return [Output(RECORD, "github-release", {"url": result.url})]

    def _spec(self, ctx: StageContext[GitHubReleaseConfig]) -> ReleaseSpec:
        from release.github.assets import AssetFile
        from release.github.publish import ReleaseSpec

        cfg = ctx.config
        tag = cfg.tag or ctx.source.tag
        if not tag:
            raise StageFailed("there is no release tag on the built commit",
                              f"tag the commit ({ctx.pipeline.source.tags}) and push the tag")
        assets, bundles = _select(ctx)
        if not assets:
            raise StageFailed("no artifacts to publish",
                              "add the stages that produce them to `needs`, or widen `include`")
        notes = _read_notes(ctx, cfg.notes) if cfg.notes else None
        return ReleaseSpec(
            repository=_repository(ctx, strict=True), tag=tag, commit=ctx.source.commit,
            name=cfg.title or tag, notes=notes, generate_notes=cfg.generate_notes,
            prerelease=cfg.prerelease, make_latest=cfg.make_latest,
            immutable_required=cfg.immutable == "required", read_setting=cfg.read_setting,
            assets=tuple(AssetFile(a.name, ctx.input_path(a), a.size, a.sha256)
                         for a in assets),
            attestations=tuple((a.name, ctx.input_path(a)) for a in bundles))


def _repository(ctx: StageContext[Any], *, strict: bool) -> str:
    repo = ctx.pipeline.source.repository or ctx.source.repository
    if repo:
        return repo
    if strict:
        raise StageFailed("no GitHub repository to release to",
                          "set `source.repository: owner/name` in the pipeline file")
    return "(repository not set)"


def _select(ctx: StageContext[GitHubReleaseConfig]) -> tuple[list[Artifact], list[Artifact]]:
    """The artifacts to publish as assets, and the bundles to store as attestations."""
    from release.github.assets import ASSET_NAME
    from release.github.attestations import is_attestation_bundle  # the client: not at plan time

    cfg = ctx.config
    assets = select(ctx.inputs, cfg.include, cfg.exclude)
    ensure_unique_names(assets, "release asset names must be unique; use `exclude`")
    for a in assets:
        if not ASSET_NAME.match(a.name):
            raise StageFailed(f"artifact {a.name!r} cannot be a release asset name: GitHub "
                              "would rename it", "use letters, digits, '.', '_', '+', '-'")
    bundles = [a for a in ctx.inputs if cfg.attestations and is_attestation_bundle(a.name, a.kind)]
    return assets, sorted(bundles, key=lambda a: a.name)


def _notes_step(ctx: StageContext[GitHubReleaseConfig]) -> PlannedAction:
    """The notes the release will carry, by digest: the approval binds them."""
    cfg = ctx.config
    if cfg.notes:
        text = _read_notes(ctx, cfg.notes)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return PlannedAction("release notes", f"{cfg.notes} at {ctx.source.commit[:12]}",
                             f"sha256:{digest}")
    return PlannedAction("release notes", "generated by GitHub" if cfg.generate_notes
                         else "none")


def _read_notes(ctx: StageContext[GitHubReleaseConfig], path: str) -> str:
    """The notes file as committed at the release commit (never the working tree)."""
    proc = subprocess.run(["git", "-C", str(ctx.source.root), "show",
                           f"{ctx.source.commit}:{ctx.source.in_repository(path)}"],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise StageFailed(f"notes file {path!r} is not in commit {ctx.source.commit[:12]}",
                          "commit the notes file, with its path relative to the released "
                          "folder (`source.path`, the repository root by default)")
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StageFailed(f"notes file {path!r} is not UTF-8 text (byte {exc.start})",
                          "save the notes as UTF-8") from None
    if len(text) > MAX_NOTES:
        raise StageFailed(f"notes file {path!r} has {len(text)} characters",
                          f"GitHub keeps at most {MAX_NOTES:,} characters of release notes")
    return text
