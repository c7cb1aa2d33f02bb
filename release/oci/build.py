"""The run-time half of the ``oci-image`` stage: resolve inputs, build, archive, push.

Imported only when the stage runs or plans a dry run (it pulls in httpx).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from release.engine.source import server_url
from release.errors import StageFailed
from release.oci.auth import Credentials
from release.oci.image import ImageSpec, build, rfc3339
from release.oci.layer import LayerFile
from release.oci.layout import Layout, write_archive
from release.oci.pull import pull_base

if TYPE_CHECKING:
    from release.engine.manifest import Artifact
    from release.engine.source import SourceFacts
    from release.oci.descriptor import Platform
    from release.oci.model import FileEntry, ImageSettings, PushTarget
    from release.oci.reference import Reference


class ImageDescription(Protocol):
    """The image to build, as an ``oci-image`` stage's configuration describes it."""

    @property
    def needs(self) -> tuple[str, ...]: ...
    @property
    def platform_list(self) -> list[Platform]: ...
    @property
    def files(self) -> Mapping[str, FileEntry]: ...
    @property
    def config(self) -> ImageSettings: ...
    @property
    def base_reference(self) -> Reference | None: ...
    @property
    def push(self) -> PushTarget | None: ...


class ImageJob(Protocol):
    """The stage run an image is built for (a :class:`~release.engine.contract.StageContext`)."""

    @property
    def config(self) -> ImageDescription: ...
    @property
    def inputs(self) -> tuple[Artifact, ...]: ...
    @property
    def source(self) -> SourceFacts: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def secrets(self) -> Mapping[str, str]: ...
    @property
    def log(self) -> Callable[[str], None]: ...
    def input_path(self, artifact: Artifact) -> Path: ...


def _artifact(ctx: ImageJob, name: str) -> Artifact:
    found = [a for a in ctx.inputs if a.name == name]
    if not found:
        have = ", ".join(sorted(a.name for a in ctx.inputs)) or "none"
        raise StageFailed(f"file {name!r}: no artifact of that name among the outputs of "
                          f"{', '.join(ctx.config.needs) or 'the needs'} (they are: {have})",
                          "map artifacts by their file name and list their stages in `needs`")
    if len(found) > 1:
        raise StageFailed(f"file {name!r}: stages {', '.join(a.stage for a in found)} each "
                          "produce an artifact of that name", "rename one of them")
    return found[0]


def labels(ctx: ImageJob) -> dict[str, str]:
    """The standard ``org.opencontainers.image.*`` labels, from the release source."""
    src = ctx.source
    out = {"org.opencontainers.image.created": rfc3339(src.epoch),
           "org.opencontainers.image.revision": src.commit,
           "org.opencontainers.image.version": src.version}
    if src.repository:
        server = server_url(ctx.env)
        out["org.opencontainers.image.source"] = f"{server}/{src.repository}"
    return out


def specs(ctx: ImageJob) -> list[ImageSpec]:
    """One image spec per platform, with the files meant for it."""
    cfg, settings = ctx.config, ctx.config.config
    standard = labels(ctx)
    result = []
    for platform in cfg.platform_list:
        files = []
        for name, entry in cfg.files.items():
            if entry.platform not in (None, str(platform)):
                continue
            art = _artifact(ctx, name)
            # the file's own mode as its stage made it (recorded in the manifest: 0755
            # when the build made it executable), unless the pipeline says otherwise;
            # never guessed from the artifact's kind
            mode = art.mode if entry.mode_bits is None else entry.mode_bits
            files.append(LayerFile(entry.path, ctx.input_path(art), mode))
        result.append(ImageSpec(
            platform=platform, files=tuple(files), epoch=ctx.source.epoch,
            entrypoint=settings.entrypoint, cmd=settings.cmd, env=settings.env,
            user=settings.user, workdir=settings.workdir,
            labels={**settings.labels, **standard}, annotations=standard))
    return result


def build_image(ctx: ImageJob, layout_dir: Path, archive: Path) -> str:
    """Build the layout in ``layout_dir``, archive it to ``archive``; return the top digest."""
    cfg = ctx.config
    image_specs = specs(ctx)  # resolves the files before any download
    layout = Layout(layout_dir)
    bases = {}
    ref = cfg.base_reference
    if ref is not None:
        with tempfile.TemporaryDirectory(prefix="pull-", dir=layout_dir) as tmp:
            bases = pull_base(ref, cfg.platform_list, layout, Path(tmp), ctx.log)
        base_notes = {"org.opencontainers.image.base.name": str(ref)}
        image_specs = [replace(s, annotations={
            **s.annotations, **base_notes,
            "org.opencontainers.image.base.digest": bases[s.platform].digest})
            for s in image_specs]
    top = build(layout, image_specs, bases, ref_name=ctx.source.version,
                annotations=labels(ctx))
    write_archive(layout, archive, mtime=ctx.source.epoch)
    return top.digest


def credentials(ctx: ImageJob) -> Credentials | None:
    """The push credential: the stage's GitHub token for ghcr.io, else ``password-env``."""
    assert ctx.config.push is not None
    return push_credentials(ctx.config.push, ctx.secrets, ctx.env)


def push_credentials(push: PushTarget, secrets: Mapping[str, str],
                     env: Mapping[str, str]) -> Credentials | None:
    """The credential for ``push``'s registry, from a stage's secrets and environment."""
    if push.host == "ghcr.io":
        token = secrets.get("GITHUB_TOKEN")
        if not token:
            raise StageFailed("pushing to ghcr.io needs the stage's GITHUB_TOKEN, which is "
                              "not set", "in GitHub Actions the job gets it with "
                              "`packages: write`; locally export GITHUB_TOKEN")
        return Credentials(env.get("GITHUB_ACTOR") or "x-access-token", token)
    if push.password_env:
        secret = secrets.get(push.password_env)
        if not secret:
            raise StageFailed(f"the registry credential variable {push.password_env} is not "
                              "set", f"export {push.password_env} before the run")
        assert push.username is not None
        return Credentials(push.username, secret)
    return None


def push_image(ctx: ImageJob, layout_dir: Path, tags: list[str]) -> None:
    from release.oci.push import push

    assert ctx.config.push is not None
    layout = Layout(layout_dir)
    [top] = layout.index()
    push(layout, top, ctx.config.push.host, ctx.config.push.path, tags,
         credentials=credentials(ctx), log=ctx.log)
