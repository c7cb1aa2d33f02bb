"""The in-toto statements the ``attest`` stage signs, and the names of their files.

Subjects (artifacts by their sha256, images also by their manifest digest), the SLSA
provenance statement of the run (:mod:`release.provenance.slsa`), and a CycloneDX
statement for each SBOM of the needs that names the artifact it describes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from release.engine.contract import StageConfig, StageContext
from release.engine.manifest import select
from release.errors import ReleaseError, StageFailed

if TYPE_CHECKING:
    from release.engine.manifest import Artifact

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


def provenance_statement(ctx: StageContext[Any], subs: list[tuple[str, str]]
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


def sbom_statements(ctx: StageContext[Any], sboms: list[tuple[Artifact, str, str]]
                    ) -> list[tuple[str, dict[str, Any]]]:
    """``(base name, statement)`` for each of ``sboms`` (see :func:`sbom_subjects_of`)."""
    from release.provenance.sbom import sbom_statement

    found = []
    for sbom, subject, digest in sboms:
        text = ctx.input_path(sbom).read_text(encoding="utf-8")
        found.append((sbom_base(sbom), sbom_statement(subject, digest, text)))
    return found


def sbom_base(sbom: Artifact) -> str:
    """The base name of an SBOM's attestation: ``NAME.cdx`` for ``NAME.cdx.json``."""
    return sbom.name.removesuffix(".json")


def sbom_subjects_of(inputs: Iterable[Artifact]) -> list[tuple[Artifact, str, str]]:
    """``(sbom artifact, subject name, subject sha256)`` for each SBOM among ``inputs``.

    The subject comes from the annotations the ``sbom`` stage records, which the
    manifest carries from stage to stage like the digests themselves.
    """
    found = []
    for art in sorted(inputs, key=lambda a: a.name.encode()):
        if art.kind != SBOM_KIND:
            continue
        name, digest = art.annotations.get("subject"), art.annotations.get("subject-sha256")
        if not name or not digest or not _HEX64.match(digest):
            raise StageFailed(f"SBOM {art.name} (stage {art.stage!r}) does not name the "
                              "artifact it describes", "produce SBOMs with the sbom stage")
        found.append((art, name, digest))
    return found


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


def resolved_inputs(ctx: StageContext[Any]) -> list[dict[str, Any]]:
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
