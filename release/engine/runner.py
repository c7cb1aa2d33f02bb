"""Schedules stages over the DAG, in parallel, and gathers their results."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from release.engine import manifest, outdir
from release.engine.build import build_stage, check_reproducible
from release.engine.context import ContextScope
from release.engine.contract import BuildsInDryRun, Effect, RunFacts, RunnablePipeline
from release.engine.credentials import holds_credential
from release.engine.dag import ancestors
from release.engine.digest import file_digest
from release.engine.handoff import HandOffs
from release.engine.manifest import Artifact
from release.engine.redaction import Redactor
from release.engine.results import Reporter, RunResult, StageResult, Status
from release.engine.run_options import RunOptions, environ_invocation_id
from release.engine.runners import local_skip
from release.engine.sandbox import Sandbox
from release.engine.source import SourceExport, SourceFacts
from release.errors import InputError, ReleaseError, UsageError


class Runner:
    """Runs a loaded pipeline (or one of its stages) under the given options."""

    def __init__(self, pipeline: RunnablePipeline, options: RunOptions, source: SourceFacts,
                 reporter: Reporter, environ: Mapping[str, str], redactor: Redactor) -> None:
        self.pipeline = pipeline
        self.options = options
        self.source = source
        self.reporter = reporter
        self.environ = dict(environ)
        self.redact = redactor
        self.export = SourceExport(source)
        self.sandbox = Sandbox(isolated=options.sandbox,
                               hide=(source.root.resolve(), options.out.resolve()))
        self.cancel = threading.Event()
        self.results: dict[str, StageResult] = {}
        self.handoffs = HandOffs(options.out)
        self.reproduced: set[str] = set()
        #: how many stages were started: the first one reads the imports as hashed
        self.begun = 0
        #: stages not run because this host cannot stand in for their runner, and those
        #: that need them: stage -> reason
        self.host_skipped: dict[str, str] = {}
        self.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.invocation_id = environ_invocation_id(self.environ)

    @property
    def produced(self) -> dict[str, list[Artifact]]:
        return self.handoffs.produced

    # -- the whole run --------------------------------------------------------------
    def run(self) -> RunResult:
        try:
            return self._run()
        finally:
            self.export.close()

    def _run(self) -> RunResult:
        opts = self.options
        if self.source.dirty and not opts.allow_dirty:
            raise UsageError(
                f"the working tree at {self.source.root.name} has uncommitted changes",
                "commit or stash them: releases are built from the committed tree only; "
                "--allow-dirty overrides this and is recorded in the manifest",
            )
        if opts.approved is not None:  # before any stage runs: facts and plans as approved
            opts.approved.check_run(self)
        selected = self._selected()
        if not opts.sandbox:
            self._check_unsandboxed(selected)
        elif any(self._needs_sandbox(s) for s in selected):
            self.sandbox.check()
        outdir.claim(opts.out)
        if opts.stages:
            for need in self.handoffs.import_needs(self.pipeline, opts, selected):
                self.results[need] = StageResult(need, self.pipeline.config(need).kind,
                                                 Status.SUCCESS, "from --artifacts",
                                                 artifacts=self.produced[need])
        self._schedule(selected)
        self.handoffs.check_unchanged()
        order = [s for s in self.pipeline.model.stages if s in self.results]
        self.results = {s: self.results[s] for s in order}
        path = None
        if all(self.results[s].status in (Status.SUCCESS, Status.PLANNED,
                                          Status.SKIPPED) for s in selected):
            arts = [a for arts in self.produced.values() for a in arts]
            path = manifest.write_manifest(opts.out, self._meta(), arts)
        return RunResult(self.results, path, self.source,
                         {s: f"{e.stage}: {e.describe()}"
                          for s, e in self.pipeline.expansions.items()},
                         dict(self.handoffs.manifests))

    def _selected(self) -> list[str]:
        stages = list(self.pipeline.model.stages)
        if not self.options.stages:
            return stages
        for stage in self.options.stages:
            if stage not in stages:
                expanded = [s for s, e in self.pipeline.expansions.items() if e.stage == stage]
                raise UsageError(f"no stage {stage!r} in {self.pipeline.path}",
                                 f"{stage!r} is a matrix: run one of its stages: "
                                 f"{', '.join(expanded)}" if expanded
                                 else f"stages: {', '.join(stages)}")
        return [s for s in stages if s in self.options.stages]

    def _needs_sandbox(self, stage: str) -> bool:
        kind = self.pipeline.kind(stage)
        config = self.pipeline.config(stage)
        runs = not self.options.dry_run or kind.effects(config) != Effect.EXTERNAL
        return kind.uses_source and runs

    def _check_unsandboxed(self, selected: list[str]) -> None:
        """``--no-sandbox`` with credentials in the environment: any build could read
        them from ``/proc/<engine>/environ``, whatever each stage's environment says."""
        if self.options.no_sandbox_with_credentials:
            return
        named = {n for s in selected
                 for n in self.pipeline.kind(s).secret_variables(self.pipeline.config(s))}
        found = sorted(n for n, v in self.environ.items()
                       if v and (n in named or holds_credential(n, v)))
        if found:
            raise UsageError(
                f"--no-sandbox with credentials in the environment: {', '.join(found)}",
                "without the sandbox every build can read the engine's environment; unset "
                "them, or pass --no-sandbox-with-credentials if you accept that")

    def _pipeline_file(self) -> tuple[str, str]:
        path = self.pipeline.path
        try:
            rel = path.resolve().relative_to(self.source.root.resolve()).as_posix()
        except ValueError:
            rel = path.name
        return rel, file_digest(path) if path.is_file() else ""

    def facts(self) -> RunFacts:
        rel, digest = self._pipeline_file()
        return RunFacts(rel, digest, self.started, self.invocation_id, self.options.sandbox,
                        self.options.allow_dirty, frozenset(self.reproduced),
                        self.options.allow_broad_token,
                        frozenset(s for s in self.pipeline.model.stages
                                  if self.pipeline.kind(s).uses_source))

    def _meta(self) -> dict[str, Any]:
        rel, digest = self._pipeline_file()
        return {
            "pipeline": {"name": self.pipeline.model.name, "file": rel, "sha256": digest},
            "source": {k: v for k, v in self.source.to_json().items() if k != "ref"},
            "sandbox": self.options.sandbox,
            "allow_dirty": self.options.allow_dirty,
        }

    # -- scheduling -----------------------------------------------------------------
    def _schedule(self, selected: list[str]) -> None:
        pending = list(selected)
        running: dict[Future[StageResult], tuple[str, float]] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            try:
                while pending or running:
                    for stage in list(pending):
                        if len(running) >= self.options.jobs:
                            break
                        verdict = self._readiness(stage)
                        if verdict == "wait":
                            continue
                        pending.remove(stage)
                        if verdict == "go" and (why := self._host_skip(stage)):
                            self.host_skipped[stage] = why
                            self._finish(StageResult(stage, self.pipeline.config(stage).kind,
                                                     Status.SKIPPED, why))
                            continue
                        if verdict != "go":
                            self._finish(StageResult(stage, self.pipeline.config(stage).kind,
                                                     Status.ABORTED, verdict))
                            continue
                        self.reporter.started(stage, self.pipeline.config(stage).kind)
                        self.begun += 1
                        running[pool.submit(self._run_stage, stage)] = (stage, time.monotonic())
                    if not running:
                        if pending:  # pragma: no cover - the graph is acyclic
                            raise ReleaseError(f"cannot schedule {', '.join(pending)}")
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        running.pop(fut)
                        self._finish(fut.result())
            except KeyboardInterrupt:
                self.cancel.set()
                for fut, (stage, started) in running.items():
                    fut.cancel()
                    self._finish(StageResult(stage, self.pipeline.config(stage).kind,
                                             Status.CANCELLED, "interrupted",
                                             time.monotonic() - started))
                for stage in pending:
                    self._finish(StageResult(stage, self.pipeline.config(stage).kind,
                                             Status.CANCELLED, "interrupted before it started"))
                pool.shutdown(wait=True, cancel_futures=True)

    def _readiness(self, stage: str) -> str:
        for need in self.pipeline.needs[stage]:
            result = self.results.get(need)
            if result is None:
                return "wait"
            if not result.status.ok:
                return f"needs {need!r}, which {result.status.value}"
        return "go"

    def _host_skip(self, stage: str) -> str | None:
        """Why the stage does not run on this host: its runner is one this host cannot
        stand in for (a macOS or Windows runner), or a need did not run for that reason."""
        if why := local_skip(self.pipeline.config(stage).runs_on):
            return why
        for need in self.pipeline.needs[stage]:
            if need in self.host_skipped:  # the same words as runners.skipped_here
                return f"needs {need!r}, which was skipped: not built on this host"
        return None

    def _finish(self, result: StageResult) -> None:
        self.results[result.stage] = result
        self.reporter.finished(result)

    # -- one stage ------------------------------------------------------------------
    def _run_stage(self, stage: str) -> StageResult:
        config = self.pipeline.config(stage)
        kind = self.pipeline.kind(stage)
        started = time.monotonic()
        try:
            planned_needs = [n for n in config.needs if n not in self.produced
                             and self.results[n].status in (Status.PLANNED, Status.SKIPPED)]
            external = kind.effects(config) is Effect.EXTERNAL
            # a dry-run reads no credential: stages that need one are planned, not run
            if self.options.dry_run and (external or kind.secret_variables(config)):
                arts: list[Artifact] = []
                if (isinstance(kind, BuildsInDryRun) and kind.builds_in_dry_run(config)
                        and not planned_needs):
                    # the local part (e.g. an image build) runs, so dependants and
                    # reviewers see its digests; the stage skips its external part
                    arts = build_stage(self, stage, self.options.out)
                    self.handoffs.record(stage, arts)
                with self._context(stage, scratch=False) as ctx:
                    plan = kind.plan(ctx)
                return StageResult(stage, kind.kind, Status.PLANNED, "dry-run",
                                   time.monotonic() - started, arts, plan)
            if planned_needs:
                return StageResult(stage, kind.kind, Status.SKIPPED,
                                   f"needs the output of {planned_needs[0]!r}, which dry-run "
                                   "does not produce", time.monotonic() - started)
            if external and self.options.approved is not None:
                upstream = ancestors(self.pipeline.needs, stage)
                with self._context(stage, scratch=False) as ctx:
                    plan = kind.plan(ctx)
                self.options.approved.check(
                    stage, ((s, self.produced[s]) for s in sorted(upstream)
                            if s in self.produced), plan)
            arts = build_stage(self, stage, self.options.out)
            if (self.options.verify_reproducible or config.reproducible) and not external:
                check_reproducible(self, stage, arts)
                self.reproduced.add(stage)
            self.handoffs.record(stage, arts)
            return StageResult(stage, kind.kind, Status.SUCCESS, "",
                               time.monotonic() - started, arts)
        except ReleaseError as exc:
            status = Status.CANCELLED if self.cancel.is_set() else Status.FAILED
            bad = exc if isinstance(exc, InputError) else None
            reason = self.redact(bad.summary() if bad else
                                 exc.message + (f" ({exc.hint})" if exc.hint else ""))
            return StageResult(stage, kind.kind, status, reason, time.monotonic() - started,
                               input_error=bad)
        except Exception as exc:  # a bug in a stage must not take the run down with it
            reason = self.redact(f"internal error: {type(exc).__name__}: {exc} (rerun with "
                                 "--debug and report it)")
            if self.options.debug:
                traceback.print_exc()
            return StageResult(stage, kind.kind, Status.FAILED, reason,
                               time.monotonic() - started)

    def _inputs(self, stage: str) -> tuple[Artifact, ...]:
        return self.handoffs.inputs(self.pipeline.needs[stage], first=self.begun <= 1)

    def _context(self, stage: str, *, scratch: bool) -> ContextScope:
        return ContextScope(self, stage, scratch, self.options.out)
