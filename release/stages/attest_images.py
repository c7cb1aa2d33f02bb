"""The registry part of ``attest``: provenance of a pushed image (and its SBOM's
attestation), each stored as a referrer of the image as cosign v3 stores attestations
(:mod:`release.signing.image_bundles`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release.engine.contract import Output, StageContext
from release.signing import KIND_BUNDLE, Signer
from release.stages.attest_statements import (
    BUNDLE_SUFFIX,
    IMAGE_SBOM_SUFFIX,
    provenance_statement,
)

if TYPE_CHECKING:
    from release.engine.manifest import Artifact


def store_image_attestations(ctx: StageContext[Any], signer: Signer, art: Artifact,
                             sboms: list[tuple[Artifact, str, str]]) -> list[Output]:
    """Provenance whose one subject is the image digest (and the image's SBOM, when one of
    ``sboms`` describes it), each stored as a referrer of the image; the bundles are kept
    as ``ARCHIVE.intoto.sigstore.json`` and ``ARCHIVE.cdx.sigstore.json``."""
    from release.provenance.sbom import sbom_statement
    from release.signing.image_bundles import sign_and_store
    from release.stages.images import open_target

    described = [s for s, name, digest in sboms if name == art.name and digest == art.sha256]
    outputs = []
    with open_target(ctx, art) as (reg, target):
        hexdigest = target.subject.digest.removeprefix("sha256:")
        statements = [(BUNDLE_SUFFIX, provenance_statement(ctx, [(target.name, hexdigest)]))]
        statements += [(IMAGE_SBOM_SUFFIX, sbom_statement(
            target.name, hexdigest, ctx.input_path(s).read_text(encoding="utf-8")))
            for s in described]
        for suffix, statement in statements:
            signed, bundle, attached = sign_and_store(signer, reg, target, statement, ctx.log)
            (ctx.out_dir / (art.name + suffix)).write_bytes(bundle)
            ctx.log(f"{art.name + suffix}: {statement['predicateType']} of {target.name}@"
                    f"{target.subject.digest}, referrer {attached.digest}")
            outputs.append(Output(art.name + suffix, KIND_BUNDLE, {
                **signed.annotations, "signing.image": f"{target.name}@{target.subject.digest}",
                "signing.referrer": attached.digest, "signing.referrer-via": attached.via}))
    return outputs
