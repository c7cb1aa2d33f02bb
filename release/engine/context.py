"""A stage's context: its workspace, source export, environment and verified inputs."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from release.engine import safefs
from release.engine.contract import RunFacts, RunnablePipeline, StageContext
from release.engine.credentials import ALLOWED, stage_environment
from release.engine.sandbox import Sandbox, Workspace
from release.terminal import printable

if TYPE_CHECKING:
    from release.engine.manifest import Artifact
    from release.engine.redaction import Redactor
    from release.engine.results import Reporter
    from release.engine.source import SourceExport, SourceFacts


class RunSettings(Protocol):
    """The options of a run that its contexts and plans read (:class:`~release.engine.
    run_options.RunOptions`)."""

    @property
    def out(self) -> Path: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def stages(self) -> tuple[str, ...]: ...
    @property
    def allow_dirty(self) -> bool: ...
    @property
    def sandbox(self) -> bool: ...


class RunState(Protocol):
    """The run a stage's context is made in (:class:`~release.engine.runner.Runner`)."""

    @property
    def pipeline(self) -> RunnablePipeline: ...
    @property
    def options(self) -> RunSettings: ...
    @property
    def source(self) -> SourceFacts: ...
    @property
    def environ(self) -> Mapping[str, str]: ...
    @property
    def export(self) -> SourceExport: ...
    @property
    def sandbox(self) -> Sandbox: ...
    @property
    def redact(self) -> Redactor: ...
    @property
    def reporter(self) -> Reporter: ...
    @property
    def cancel(self) -> threading.Event: ...
    @property
    def produced(self) -> Mapping[str, list[Artifact]]: ...
    def facts(self) -> RunFacts: ...
    def _inputs(self, stage: str) -> tuple[Artifact, ...]: ...


class ContextScope:
    """Builds a stage's context and workspace, and removes the workspace afterwards."""

    def __init__(self, runner: RunState, stage: str, scratch: bool, out_root: Path) -> None:
        self.runner, self.stage, self.scratch, self.out_root = runner, stage, scratch, out_root
        self.tmp: str | None = None

    def __enter__(self) -> StageContext[Any]:
        try:
            return self._enter()
        except BaseException:
            self.__exit__()
            raise

    def _enter(self) -> StageContext[Any]:
        r = self.runner
        config = r.pipeline.config(self.stage)
        kind = r.pipeline.kind(self.stage)
        self.tmp = tempfile.mkdtemp(prefix=f"release-{self.stage}-")
        ws = Workspace(Path(self.tmp))
        ws.create()
        if self.scratch and kind.uses_source:
            r.export.extract(ws.src)
        dry = r.options.dry_run or not self.scratch  # plans never get credentials
        outside = {k: v for k, v in r.environ.items() if k in ALLOWED} if dry else r.environ
        env, secrets = stage_environment(
            outside, r.pipeline.permissions[self.stage],
            home=ws.home, tmp=ws.tmp, source_date_epoch=r.source.epoch,
            plain={**ws.cache_env(), **config.env},
            secret_names=() if dry else kind.secret_variables(config),
        )
        r.redact.add(secrets.values())
        inputs = r._inputs(self.stage) if self.scratch else tuple(
            a for n in r.pipeline.needs[self.stage] for a in r.produced.get(n, []))

        def log(text: str) -> None:
            # a build's output is untrusted: one line each, no control characters
            r.reporter.line(self.stage, printable(r.redact(text), keep="\t"))

        return StageContext(
            stage_id=self.stage, config=config, pipeline=r.pipeline.model,
            out_dir=(self.out_root / self.stage).resolve(), workspace=ws, inputs=inputs,
            source=r.source, sandbox=r.sandbox, env=env, secrets=secrets, dry_run=dry,
            log=log, cancel=r.cancel, facts=r.facts(),
            tool_env={k: v for k, v in env.items() if k not in config.env},
            add_secret=lambda value: r.redact.add([value]),
        )

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            # what the build left there may be hostile (links, trees thousands deep)
            with contextlib.suppress(OSError):
                safefs.remove_tree(Path(self.tmp))

