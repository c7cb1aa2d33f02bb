"""One ``pypi-publish`` run: preflight, credential, attestations, upload, read back.

Order matters: everything that can be checked without the index's cooperation is
checked before the first byte is sent (metadata, names, version, description, what the
index already holds), and the index's word is checked after (every file's sha256, each
attestation's publisher). Nothing is ever overwritten: a different file under one of
our names fails the stage, naming both digests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from release.engine.contract import Output
from release.errors import StageFailed
from release.pypi import KIND_PEP740, PROVENANCE_SUFFIX, PUBLISH_SUFFIX
from release.pypi.distmeta import (
    DistFile,
    DistMetadata,
    check_filename,
    check_release,
    pyversion,
    read_metadata,
)
from release.pypi.readback import check_provenance, check_uploaded, existing_files
from release.pypi.transport import IndexClient, credential_forms
from release.pypi.upload import EXISTS, upload_file
from release.pypi.urls import IndexUrls, origin

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig

    from release.engine.contract import StageContext
    from release.engine.manifest import Artifact


class PublishSettings(Protocol):
    """A ``pypi-publish`` stage's configuration, as a publish reads it."""

    @property
    def repository_url(self) -> str: ...
    @property
    def index_url(self) -> str | None: ...
    @property
    def token_env(self) -> str | None: ...
    @property
    def provenance(self) -> bool: ...
    @property
    def skip_existing(self) -> bool: ...
    @property
    def environment(self) -> str: ...
    @property
    def instance(self) -> Literal["production", "staging"] | None: ...
    @property
    def trust_config(self) -> str | None: ...
    @property
    def oidc_audience(self) -> str: ...
    @property
    def trusted_publishing(self) -> bool: ...
    @property
    def attest(self) -> bool: ...


def signing_place(ctx: StageContext[Any]) -> str:
    """Where attestations are signed, for plans (no network, no token)."""
    from release.signing.keyless import describe_instance

    cfg: PublishSettings = ctx.config
    trust = trust_path(ctx)
    return describe_instance(cfg.instance, trust, cfg.trust_config or "")


def trust_path(ctx: StageContext[Any]) -> Path | None:
    """The configured trust config: absolute as given, else relative to the released
    folder of the working tree (``source.path``)."""
    cfg: PublishSettings = ctx.config
    value = cfg.trust_config
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else ctx.source.folder / path


class Publisher:
    """Publishes ``artifacts`` (sdists and wheels) as the stage's configuration says."""

    def __init__(self, ctx: StageContext[Any], artifacts: list[Artifact], record: str) -> None:
        self.ctx, self.record = ctx, record
        self.cfg: PublishSettings = ctx.config
        self.urls = IndexUrls.resolve(self.cfg.repository_url, self.cfg.index_url)
        self.dists = [DistFile(ctx.input_path(a), a.kind, a.sha256, a.size) for a in artifacts]
        self.publisher: dict[str, str] | None = None
        #: ``owner/repo/.github/workflows/FILE@REF`` the OIDC token named, if any
        self.workflow_ref = ""

    def publish(self) -> list[Output]:
        ctx, cfg = self.ctx, self.cfg
        if not self.dists:
            raise StageFailed("nothing to publish: no sdist or wheel among the artifacts of "
                              "its needs", "add the python-dist stage to `needs`, or widen "
                              "`include`")
        metas = self._preflight()
        name, version = metas[0].name, metas[0].version
        token = self._credential()
        outputs: list[Output] = []
        with IndexClient(auth_origin=origin(self.urls.upload), token=token) as client:
            on_index = existing_files(client, self.urls, self.dists, name, version,
                                      skip_existing=cfg.skip_existing, log=ctx.log)
            todo = [d for d in self.dists if d.filename not in on_index]
            attestations = self._attest(todo, outputs) if cfg.attest and todo else {}
            outcomes = {d.filename: "skipped: identical file already on the index"
                        for d in self.dists if d.filename in on_index}
            for dist, meta in zip(self.dists, metas, strict=True):
                if dist.filename in on_index:
                    continue
                fields = self._fields(dist, meta, attestations.get(dist.filename))
                result = upload_file(client, self.urls.upload, dist, fields, log=ctx.log,
                                     cancelled=ctx.cancel.is_set)
                if result.status == EXISTS:
                    # a retry after a broken connection may find our own first attempt
                    ctx.log(f"{dist.filename}: the index says it exists ({result.message}); "
                            "comparing digests")
                    outcomes[dist.filename] = "uploaded (found on retry)"
                else:
                    rate = dist.size / max(result.seconds, 1e-6) / 2**20
                    outcomes[dist.filename] = "uploaded"
                    ctx.log(f"uploaded {dist.filename} ({dist.size} bytes, sha256:{dist.sha256})"
                            f" in {result.seconds:.1f}s ({rate:.1f} MiB/s, {result.attempts} "
                            "attempt(s))")
            check_uploaded(client, self.urls, self.dists, name, ctx.log)
            if attestations:
                check_provenance(client, self.urls, name, version,
                                 [d for d in self.dists if d.filename in attestations],
                                 self._expected_publisher(), self._trust(), ctx.log)
        outputs.append(self._write_record(name, version, outcomes, attestations))
        return outputs

    # -- before anything is sent ------------------------------------------------------
    def _preflight(self) -> list[DistMetadata]:
        metas = []
        for dist in self.dists:
            meta = read_metadata(dist)
            check_filename(dist, meta)
            metas.append(meta)
        src = self.ctx.source
        pinned = src.tag is not None or self.ctx.pipeline.source.version is not None
        check_release(list(zip(self.dists, metas, strict=True)),
                      src.version if pinned else None)
        self.ctx.log(f"preflight: {metas[0].name} {metas[0].version}, "
                     f"{len(self.dists)} file(s): metadata valid, names match, "
                     "description renders")
        return metas

    def _credential(self) -> str:
        cfg, ctx = self.cfg, self.ctx
        if cfg.token_env is not None:
            token = ctx.secrets.get(cfg.token_env, "").strip()
            if not token:
                raise StageFailed(f"the API token variable {cfg.token_env} is not set",
                                  f"export {cfg.token_env} (a project-scoped token)")
        else:
            from release.pypi.trusted import mint_token

            minted = mint_token(self.urls, cfg.oidc_audience, ctx.secrets, ctx.add_secret,
                                ctx.log)
            self.workflow_ref, token = minted.workflow_ref, minted.value
        # the token, and the encoded forms the upload's Authorization header carries
        for form in credential_forms(token):
            ctx.add_secret(form)
        return token

    # -- attestations -----------------------------------------------------------------
    def _trust(self) -> ClientTrustConfig:
        from release.signing.keyless import load_trust_config

        cfg = self.cfg
        return load_trust_config(cfg.instance, trust_path(self.ctx), cfg.trust_config or "")

    def _attest(self, dists: list[DistFile], outputs: list[Output]) -> dict[str, list[Any]]:
        """Sign each file's attestations and write them as artifacts: name -> JSON list."""
        from release.pypi.attestations import PUBLISH_V1, SLSA_V1, Attester
        from release.signing.oidc import identity_token

        ctx = self.ctx
        sigstore_token = identity_token(ctx.secrets, None)  # audience sigstore, not pypi
        ctx.add_secret(sigstore_token)
        attester = Attester(self._trust(), sigstore_token)
        found: dict[str, list[Any]] = {}
        try:
            for dist in dists:
                signed = [(PUBLISH_SUFFIX, PUBLISH_V1, attester.publish(dist))]
                if self.cfg.provenance:
                    signed.append((PROVENANCE_SUFFIX, SLSA_V1, attester.statement(
                        self._provenance(dist), dist.filename)))
                for suffix, predicate, data in signed:
                    name = dist.filename + suffix
                    (ctx.out_dir / name).write_text(json.dumps(data, indent=2) + "\n",
                                                    encoding="utf-8")
                    outputs.append(Output(name, KIND_PEP740, {
                        "subject": dist.filename, "subject-sha256": dist.sha256,
                        "predicate-type": predicate}))
                found[dist.filename] = [data for _, _, data in signed]
                ctx.log(f"attested {dist.filename}: {len(signed)} PEP 740 attestation(s)")
        finally:
            attester.close()
        return found

    def _provenance(self, dist: DistFile) -> dict[str, Any]:
        """SLSA provenance v1 with this one distribution as its only subject."""
        from release.provenance.slsa import build_provenance_statement
        from release.signing import runfacts

        ctx, facts = self.ctx, self.ctx.facts
        return build_provenance_statement(
            subjects=[(dist.filename, dist.sha256)], pipeline_file=facts.pipeline_file,
            pipeline_sha256=facts.pipeline_sha256 or hashlib.sha256(b"").hexdigest(),
            stages=runfacts.upstream_stages(ctx), source=ctx.source, resolved=[],
            builder_id=runfacts.builder_id(ctx.env), invocation_id=facts.invocation_id,
            started=facts.started or runfacts.now(), finished=runfacts.now(),
            sandboxed=runfacts.sandboxed(ctx),
            reproducible_checked=runfacts.reproducible_checked(ctx))

    def _expected_publisher(self) -> dict[str, str]:
        """The publisher the index must record: our repository and workflow file (from
        the job's facts, else from the OIDC token the exchange presented)."""
        ctx = self.ctx
        repository = ctx.pipeline.source.repository or ctx.source.repository or ""
        workflow_ref = ctx.env.get("GITHUB_WORKFLOW_REF", "") or self.workflow_ref
        workflow = workflow_ref.split("@")[0].rsplit("/", 1)[-1]
        self.publisher = {"kind": "GitHub", "repository": repository,
                          "workflow": workflow or "release.yml",
                          "environment": self.cfg.environment}
        return self.publisher

    # -- the form and the record --------------------------------------------------------
    def _fields(self, dist: DistFile, meta: DistMetadata,
                attestations: list[Any] | None) -> list[tuple[str, str]]:
        from release.pypi import FILETYPES

        with dist.path.open("rb") as f:
            blake2 = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=32))
        fields = [(":action", "file_upload"), ("protocol_version", "1"), *meta.fields,
                  ("filetype", FILETYPES[dist.kind]), ("pyversion", pyversion(dist)),
                  ("sha256_digest", dist.sha256), ("blake2_256_digest", blake2.hexdigest())]
        if attestations:
            fields.append(("attestations", json.dumps(attestations)))
        return fields

    def _write_record(self, name: str, version: str, outcomes: dict[str, str],
                      attestations: dict[str, list[Any]]) -> Output:
        data = {
            "index": self.urls.upload, "simple": self.urls.simple, "project": name,
            "version": version, "publisher": self.publisher,
            "credential": "trusted publishing" if self.cfg.trusted_publishing
            else f"API token from ${self.cfg.token_env}",
            "files": [{"name": d.filename, "sha256": d.sha256, "size": d.size,
                       "outcome": outcomes[d.filename],
                       "attestations": len(attestations.get(d.filename, []))}
                      for d in self.dists],
        }
        (self.ctx.out_dir / self.record).write_text(json.dumps(data, indent=2) + "\n",
                                                    encoding="utf-8")
        return Output(self.record, "pypi-release", {"project": name, "version": version})
