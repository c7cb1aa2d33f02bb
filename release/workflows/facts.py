"""What the workflow generator knows about each stage: its permissions, secrets, runner,
whether it builds, signs or publishes, and what follows from them (its dry-run's
permissions, whether a review must come first, whether its job may hold others)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from release.engine.contract import BuildsInDryRun, Effect
from release.engine.runners import DEFAULT_RUNNER, runner_platform
from release.permissions import Level, PermissionSet
from release.pipeline.load import LoadedPipeline
from release.signing.options import SigningConfig
from release.stages.base import RunsInEnvironment

#: The job's own token: passed from ``github.token``, never a repository secret.
JOB_TOKEN = "GITHUB_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class StageFacts:
    """What the generator needs to know about one stage."""

    stage: str
    kind: str
    needs: tuple[str, ...]
    permissions: PermissionSet
    external: bool
    secrets: tuple[str, ...]
    #: Whether the stage gets the job's GitHub token (a GitHub permission, or its kind reads it).
    token: bool
    builds: bool
    sandboxed: bool
    minutes: int
    #: Whether the kind reads any outside variable (GITHUB_TOKEN included).
    reads_secrets: bool = False
    #: Whether a dry-run still builds its local part (e.g. an image it would push).
    builds_in_dry_run: bool = False
    #: The GitHub environment its kind names (e.g. pypi-publish's ``pypi``), if any.
    environment: str | None = None
    #: The runner its jobs run on (``runs-on:``).
    runs_on: str | list[str] = DEFAULT_RUNNER
    #: Whether it reads a signing key file (``backend: key``): a credential, even when no
    #: passphrase variable names it, so never in a job with other stages' code.
    key: bool = False

    @property
    def system(self) -> str | None:
        """The runner's operating system (linux, macos, windows), if its labels say."""
        return runner_platform(self.runs_on)[0]

    @property
    def planned_in_dry_run(self) -> bool:
        """A dry-run reads no credential: it only plans external and secret-reading stages."""
        return self.external or self.reads_secrets

    @property
    def dry_run_outputs(self) -> bool:
        """Whether its dry-run job produces outputs for the jobs after it."""
        return not self.planned_in_dry_run or self.builds_in_dry_run

    @property
    def mints_oidc(self) -> bool:
        """Holds ``id-token: write``: can get a Sigstore certificate as the release workflow."""
        return self.permissions.get_level("id-token") is Level.WRITE

    @property
    def protected(self) -> bool:
        """Runs in the environment: holds secrets, can mint an OIDC token (its signatures are
        public and permanent), or changes the world with write access."""
        writes = any(lvl is Level.WRITE for n, lvl in self.permissions.items() if n != "id-token")
        return bool(self.secrets) or self.mints_oidc or (self.external and writes)

    @property
    def reviewed(self) -> bool:
        """Publishes or signs: a review job shows its dry-run plan before the approval is
        asked, so no OIDC token exists before a maintainer has read what it will sign."""
        return self.protected and (self.external or self.mints_oidc)

    @property
    def read_only(self) -> PermissionSet:
        """The permissions of this stage's dry-run: read where it may write, no OIDC."""
        return PermissionSet({n: Level.READ for n in self.permissions if n != "id-token"})


def runner_of(f: StageFacts) -> str | list[str]:
    """The runner of a stage's job: stages on different runners never share a job."""
    return f.runs_on


def stage_facts(pipeline: LoadedPipeline) -> dict[str, StageFacts]:
    """Facts of every stage, in pipeline order."""
    facts: dict[str, StageFacts] = {}
    for sid, config in pipeline.model.stages.items():
        kind = pipeline.kind(sid)
        # `sandbox: true` is a key of `command` stages only
        sandboxed = getattr(config, "sandbox", False) is True
        variables = kind.secret_variables(config)
        facts[sid] = StageFacts(
            stage=sid, kind=kind.kind, needs=tuple(config.needs),
            permissions=pipeline.permissions[sid],
            external=kind.effects(config) is Effect.EXTERNAL,
            secrets=tuple(sorted(variables - {JOB_TOKEN})),
            token=pipeline.permissions[sid].has_github_access() or JOB_TOKEN in variables,
            builds=kind.uses_source, sandboxed=sandboxed,
            minutes=math.ceil(config.timeout_seconds / 60), reads_secrets=bool(variables),
            builds_in_dry_run=isinstance(kind, BuildsInDryRun)
            and kind.builds_in_dry_run(config) and not variables,
            environment=kind.environment(config) if isinstance(kind, RunsInEnvironment)
            else None,
            runs_on=config.runs_on,
            key=isinstance(config, SigningConfig) and config.backend == "key",
        )
    return facts


def dry_run_stages(facts: dict[str, StageFacts]) -> list[str]:
    """Stages that can run in a distributed dry-run: all their needs produce outputs."""
    produces: dict[str, bool] = {}

    def makes_outputs(sid: str) -> bool:
        if sid not in produces:
            f = facts[sid]
            produces[sid] = f.dry_run_outputs and all(makes_outputs(n) for n in f.needs)
        return produces[sid]

    return [sid for sid, f in facts.items() if all(makes_outputs(n) for n in f.needs)]
