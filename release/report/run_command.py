"""``release run PIPELINE``: run a pipeline, or some of its stages, and report the result.

The options are defined in :mod:`release.cli`. Imports stay inside :func:`run`, as in
the CLI they came from.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import UsageError

if TYPE_CHECKING:
    from release.engine.redaction import Redactor


def _expectation(text: str) -> tuple[str, str]:
    stage, sep, digest = text.partition("=")
    if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise UsageError(f"--expect-manifest {text!r} is not STAGE=SHA256",
                         "give the stage id and the 64 hex digits its job reported")
    return stage, digest


def _report_stage_manifests(args: argparse.Namespace, manifests: dict[str, str],
                            ok: bool) -> None:
    """In GitHub Actions, a ``--stage`` run hands the digest of each manifest it wrote to
    later jobs, as step output ``manifest-<stage>``: the digest of the bytes written when
    the stage finished, which the end of the run has checked are still on disk."""
    target = os.environ.get("GITHUB_OUTPUT")
    lines = [f"manifest-{s}={manifests[s]}\n" for s in args.stage if s in manifests]
    if ok and target and lines:
        try:
            with Path(target).open("a", encoding="utf-8") as f:
                f.writelines(lines)
        except OSError as exc:  # the job's later steps then miss the digest and stop
            print(f"WARNING: cannot write the manifest digests to GITHUB_OUTPUT: "
                  f"{exc.strerror}", file=sys.stderr)


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run the pipeline; ``redactor`` is the one the CLI's output streams pass through,
    which learns the secrets the run's stages are given."""
    from release.engine.run_options import RunOptions
    from release.engine.runner import Runner
    from release.pipeline.load import load
    from release.report.console import (
        LiveReporter,
        PlainReporter,
        render_plans,
        render_summary,
    )
    from release.report.plan_command import source_facts
    from release.report.review import review_markdown, write_report

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.artifacts is not None and not args.stage:
        raise UsageError("--artifacts needs --stage", "pass the stage this job runs")
    pipeline = load(args.pipeline)
    source = source_facts(pipeline)
    out = args.out or Path("dist") / f"{pipeline.model.name}-{source.version}"
    if args.allow_dirty and source.dirty:
        print("WARNING: building from a working tree with uncommitted changes "
              "(--allow-dirty); this is recorded in the manifest", file=sys.stderr)
    if args.no_sandbox_with_credentials and not args.no_sandbox:
        raise UsageError("--no-sandbox-with-credentials is only meaningful with --no-sandbox")
    if args.no_sandbox:
        print("WARNING: --no-sandbox: builds run without isolation (they can read and change "
              "any file of this user, and use the network); this is recorded in the manifest",
              file=sys.stderr)
    from release.engine.approval import ApprovedPlan
    from release.engine.binding import RunBinding

    expected = dict(_expectation(text) for text in args.expect_manifest)
    approved = ApprovedPlan.load(args.approved_plan) if args.approved_plan else None
    options = RunOptions(out=out, jobs=args.jobs, dry_run=args.dry_run,
                         stages=tuple(dict.fromkeys(args.stage)),
                         artifacts=args.artifacts, allow_dirty=args.allow_dirty,
                         sandbox=not args.no_sandbox,
                         no_sandbox_with_credentials=args.no_sandbox_with_credentials,
                         verify_reproducible=args.verify_reproducible, approved=approved,
                         allow_broad_token=args.allow_broad_token, debug=args.debug,
                         expected_manifests=tuple(sorted(expected.items())))
    live = sys.stderr.isatty() and not os.environ.get("CI")
    reporter = LiveReporter() if live else PlainReporter()
    runner = Runner(pipeline, options, source, reporter, os.environ, redactor)
    try:
        result = runner.run()
    finally:
        if isinstance(reporter, LiveReporter):
            reporter.close()
    print(render_summary(result))
    if plans := render_plans(result):
        print(plans)
    for art in (a for r in result.results.values() for a in r.artifacts):
        print(f"sha256:{art.sha256}  {art.path}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    in_actions = bool(summary) and os.environ.get("GITHUB_ACTIONS") == "true"
    # what approving this run binds (facts, stages' plans): the reports show and record it
    binding = RunBinding.of(runner) if args.report or in_actions else None
    for path in args.report:
        write_report(path, pipeline, result, args.dry_run, binding)
    if summary and in_actions:
        with Path(summary).open("a", encoding="utf-8") as f:
            f.write(review_markdown(pipeline, result, args.dry_run, binding) + "\n")
    if result.manifest_path:
        print(f"manifest: {result.manifest_path}")
    _report_stage_manifests(args, result.manifests, result.ok)
    if (bad := result.input_error()) is not None:
        raise bad  # each problem at its file:line:col, exit 2
    return 0 if result.ok else 1
