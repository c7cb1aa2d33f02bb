"""``sign``: sign artifacts of its needs (by default the checksums file) and record the signatures.

Signing the checksums file is what GoReleaser and many projects do: one signature
covers every artifact through ``sha256sum -c``. ``artifacts: all`` or a list of
globs signs files one by one instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from release.engine.manifest import ensure_unique_names, select
from release.errors import StageFailed
from release.signing import KIND_PUBLIC_KEY, SIGNED_NAME, SIGNED_SHA256
from release.signing.options import (
    SigningConfig,
    SigningKind,
    describe_signer,
    open_signer,
    public_key_name,
)
from release.stages.base import Output, PlannedAction, StageContext

if TYPE_CHECKING:
    from release.engine.manifest import Artifact

#: What ``artifacts: checksums`` selects: the artifacts of this manifest kind.
CHECKSUMS_KIND = "checksums"


class SignConfig(SigningConfig):
    kind: Literal["sign"]
    artifacts: Literal["checksums", "all"] | list[str] = Field(
        default="checksums",
        description="`checksums` (the checksums files of its needs), `all`, or globs over "
                    "artifact names.")


class Sign(SigningKind[SignConfig]):
    kind = "sign"
    description = "Sign the checksums file (or chosen artifacts): Sigstore keyless or a key."
    config = SignConfig

    def declared_outputs(self, config: SignConfig) -> list[str]:
        if config.backend == "key":
            return ["*.sig", config.public_key_name or "<stage>.pub"]
        return ["*.sigstore.json"]

    def plan(self, ctx: StageContext[SignConfig]) -> list[PlannedAction]:
        identity, where = describe_signer(ctx)
        perm = "id-token: write" if ctx.config.ambient_oidc else None
        chosen = _selected(ctx)
        if not chosen:  # before the artifacts exist (what an approval binds): who, where
            return [PlannedAction("would sign with", where, None, perm, identity)]
        return [PlannedAction("would sign", f"{a.name} at {where}", f"sha256:{a.sha256}", perm,
                              identity) for a in chosen]

    def run(self, ctx: StageContext[SignConfig]) -> list[Output]:
        chosen = _selected(ctx)
        if not chosen:
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


def _selected(ctx: StageContext[SignConfig]) -> list[Artifact]:
    choice = ctx.config.artifacts
    if choice == "checksums":
        arts = [a for a in ctx.inputs if a.kind == CHECKSUMS_KIND]
    elif choice == "all":
        arts = list(ctx.inputs)
    else:
        arts = select(ctx.inputs, choice)
    ensure_unique_names(arts, "signature files are named after artifacts; names must be unique")
    return sorted(arts, key=lambda a: a.name.encode())
