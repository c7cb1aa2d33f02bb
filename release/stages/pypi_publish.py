"""``pypi-publish``: publish the sdists and wheels of its needs to PyPI (or another index).

Trusted publishing by default (GitHub OIDC exchanged for a short-lived token, held in
memory only), PEP 740 attestations signed keyless and written as artifacts, a preflight
before the first byte is sent, streaming uploads with retries, and a read-back that
compares every file's sha256 and each attestation's publisher with ours. The work is in
:mod:`release.pypi.publisher`; this module is the configuration, privileges and plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    from release.engine.manifest import Artifact

RECORD = "pypi-publish.json"
_VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENVIRONMENT = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$"


class PypiPublishConfig(StageConfig):
    kind: Literal["pypi-publish"]
    repository_url: str = Field(
        default="https://upload.pypi.org/legacy/", alias="repository-url",
        description="Upload URL of the index (legacy API), or `pypi` / `testpypi`; https "
                    "only (http only for a loopback test index).")
    index_url: str | None = Field(
        default=None, alias="index-url",
        description="Simple API root to read uploads back from (default: derived from "
                    "repository-url, e.g. https://pypi.org/simple/).")
    token_env: str | None = Field(
        default=None, alias="token-env", pattern=_VARIABLE,
        description="Variable holding an API token (for an index without trusted "
                    "publishing); unset: trusted publishing (needs id-token: write).")
    attestations: bool | None = Field(
        default=None, description="Attach PEP 740 publish attestations (default: true with "
                                  "trusted publishing; PyPI accepts them only then).")
    provenance: bool = Field(
        default=False, description="Also attach a per-distribution SLSA provenance v1 "
                                   "attestation (one subject each).")
    skip_existing: bool = Field(
        default=False, alias="skip-existing",
        description="A file already on the index with the same sha256 is a no-op; a "
                    "different one is always a failure, never overwritten.")
    environment: str = Field(
        default="pypi", pattern=_ENVIRONMENT,
        description="GitHub environment of the generated job (the one the trusted "
                    "publisher on PyPI names).")
    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Globs over artifact names to publish.")
    exclude: list[str] = Field(default_factory=list)
    instance: Literal["production", "staging"] | None = Field(
        default=None, description="Sigstore instance that signs attestations (default "
                                  "production, which PyPI trusts).")
    trust_config: str | None = Field(
        default=None, alias="trust-config",
        description="A private Sigstore ClientTrustConfig JSON (relative to the "
                    "repository root), for signing attestations.")
    audience: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
        description="OIDC audience of the trusted-publishing token (`pypi` for "
                    "upload.pypi.org and `testpypi` for test.pypi.org, fixed; required "
                    "for any other index; never `sigstore`). The index's "
                    "/_/oidc/audience must answer the same value or no token is "
                    "requested.")

    @field_validator("repository_url")
    @classmethod
    def _repository_url(cls, value: str) -> str:
        from release.pypi.urls import SHORTHANDS, check_url

        return value if value in SHORTHANDS else check_url(value, "repository-url")

    @field_validator("index_url")
    @classmethod
    def _index_url(cls, value: str | None) -> str | None:
        from release.pypi.urls import check_url

        return None if value is None else check_url(value, "index-url")

    @model_validator(mode="after")
    def _consistent(self) -> PypiPublishConfig:
        if self.token_env is not None and self.attestations:
            raise ValueError("`attestations` need trusted publishing: PyPI accepts them only "
                             "from a trusted publisher; remove `token-env` or `attestations`")
        if self.provenance and not self.attest:
            raise ValueError("`provenance: true` attaches a second attestation and needs "
                             "attestations (trusted publishing)")
        if self.instance and self.trust_config:
            raise ValueError("give `instance` or `trust-config`, not both")
        if (self.instance or self.trust_config) and not self.attest:
            raise ValueError("`instance`/`trust-config` choose where attestations are "
                             "signed; this stage attaches none")
        if self.audience is not None and not self.trusted_publishing:
            raise ValueError("`audience` is the trusted-publishing token's audience; this "
                             "stage uses the API token in `token-env`")
        if self.trusted_publishing:
            from release.pypi.urls import configured_audience

            configured_audience(self.repository_url, self.audience)
        return self

    @property
    def oidc_audience(self) -> str:
        """The audience of the OIDC token trusted publishing requests (configuration only,
        never the index's word)."""
        from release.pypi.urls import configured_audience

        return configured_audience(self.repository_url, self.audience)

    @property
    def trusted_publishing(self) -> bool:
        return self.token_env is None

    @property
    def attest(self) -> bool:
        """Whether attestations are attached (the default follows trusted publishing)."""
        return self.trusted_publishing if self.attestations is None else self.attestations


class PypiPublish(StageKind[PypiPublishConfig]):
    kind = "pypi-publish"
    description = "Publish sdists and wheels to PyPI: trusted publishing, PEP 740, verified."
    config = PypiPublishConfig

    def permissions(self, config: PypiPublishConfig) -> PermissionSet:
        """``id-token: write`` with trusted publishing; nothing with an API token."""
        if config.trusted_publishing:
            return PermissionSet({"id-token": Level.WRITE})
        return PermissionSet()

    def effects(self, config: PypiPublishConfig) -> Effect:
        del config
        return Effect.EXTERNAL

    def secret_variables(self, config: PypiPublishConfig) -> frozenset[str]:
        return frozenset({config.token_env} if config.token_env else ())

    def environment(self, config: PypiPublishConfig) -> str:
        return config.environment

    def declared_outputs(self, config: PypiPublishConfig) -> list[str]:
        from release.pypi import PROVENANCE_SUFFIX, PUBLISH_SUFFIX

        names = [f"*{PUBLISH_SUFFIX}"] if config.attest else []
        if config.provenance:
            names.append(f"*{PROVENANCE_SUFFIX}")
        return [*names, RECORD]

    def plan(self, ctx: StageContext[PypiPublishConfig]) -> list[PlannedAction]:
        from release.pypi.publisher import signing_place
        from release.pypi.urls import IndexUrls

        cfg = ctx.config
        urls = IndexUrls.resolve(cfg.repository_url, cfg.index_url)
        perm = "id-token: write" if cfg.trusted_publishing else None
        who = self.identity(ctx)
        audience = f"; OIDC audience {cfg.oidc_audience!r}" if cfg.trusted_publishing else ""
        steps = [PlannedAction("index", f"upload to {urls.upload}; read back from "
                               f"{urls.simple}{audience}", identity=who)]
        dists = distributions(ctx)
        if not dists:  # before the artifacts exist: who and where (what an approval binds)
            steps.append(PlannedAction("would publish the sdists and wheels of",
                                       ", ".join(cfg.needs) or "(no needs)", None, perm, who))
        where = signing_place(ctx) if cfg.attest else ""
        for art in dists:
            steps.append(PlannedAction("would upload", f"{art.name} to {urls.upload}",
                                       f"sha256:{art.sha256}", perm, who))
            if cfg.attest:
                kinds = "publish" + (" + SLSA provenance" if cfg.provenance else "")
                steps.append(PlannedAction(f"would attach PEP 740 attestations ({kinds})",
                                           f"{art.name}, signed at {where}",
                                           f"sha256:{art.sha256}", perm, who))
        steps.append(PlannedAction(
            "then verify", "every file's sha256 in the simple API"
            + (" and its provenance's publisher" if cfg.attest else "")
            + ("; identical files already there are skipped" if cfg.skip_existing
               else "; a file already there fails the stage")))
        return steps

    def identity(self, ctx: StageContext[PypiPublishConfig]) -> str:
        """The publisher the index would see (from non-secret facts; no token is read)."""
        cfg = ctx.config
        if not cfg.trusted_publishing:
            return f"the API token in ${cfg.token_env} (not read in a plan)"
        repository = ctx.pipeline.source.repository or ctx.source.repository or "OWNER/NAME"
        workflow_ref = ctx.env.get("GITHUB_WORKFLOW_REF", "")
        workflow = workflow_ref.split("@")[0].rsplit("/", 1)[-1] if workflow_ref \
            else "release.yml"
        return (f"trusted publisher: GitHub repository {repository}, workflow {workflow}, "
                f"environment {cfg.environment}")

    def run(self, ctx: StageContext[PypiPublishConfig]) -> list[Output]:
        from release.pypi.publisher import Publisher

        if ctx.dry_run:
            for step in self.plan(ctx):
                ctx.log(f"dry-run: {step.action} {step.target} {step.digest or ''}".rstrip())
            return []
        return Publisher(ctx, distributions(ctx), RECORD).publish()


def distributions(ctx: StageContext[PypiPublishConfig]) -> list[Artifact]:
    """The sdists and wheels among the needs' artifacts that ``include``/``exclude`` pick,
    sdists first (as PyPI's own guides upload them)."""
    from release.engine.manifest import ensure_unique_names, select
    from release.pypi import FILETYPES

    chosen = [a for a in select(ctx.inputs, ctx.config.include, ctx.config.exclude)
              if a.kind in FILETYPES]
    ensure_unique_names(chosen, "an index keeps one file per name; use `exclude`")
    return sorted(chosen, key=lambda a: (a.kind != "sdist", a.name))
