"""The ``release`` command line: a thin argparse front over the library.

Heavy imports (githubkit, sigstore, rich) stay inside the commands that use them,
so ``release --help`` and ``release plan`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from release import __version__
from release.engine.redaction import Redactor
from release.errors import ReleaseError, UsageError

#: Commands implemented in their own modules: (name, module, help). Each module has
#: ``add_arguments(parser)`` and ``run(args) -> int`` and keeps heavy imports inside ``run``.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("workflow", "release.workflows.command",
     "generate or check the GitHub Actions release workflow"),
    ("audit", "release.workflows.audit_command",
     "audit GitHub Actions workflows (zizmor + release rules)"),
    ("verify", "release.verify.command",
     "verify a downloaded release: checksums, signatures, provenance"),
)


class _Redacting:
    """Wraps a text stream so that every line written passes through redaction."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self.redactor(text))
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The command line parser. Of the commands in their own modules, only the one named
    in ``argv`` is imported to add its arguments: ``release --help`` lists them all by
    their help texts, and ``release plan`` does not pay for ``verify``'s imports."""
    parser = argparse.ArgumentParser(
        prog="release",
        description="Secure release pipelines: hermetic builds, least privilege, "
        "verifiable releases.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        default=os.environ.get("RELEASE_DEBUG") == "1",
                        help="show tracebacks for errors (env: RELEASE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    plan = sub.add_parser("plan", help="show the static plan of a pipeline without running it")
    plan.add_argument("pipeline", type=Path)
    plan.add_argument("--format", choices=["table", "markdown", "json"], default="table")

    run = sub.add_parser("run", help="run a pipeline, or one stage of it")
    run.add_argument("pipeline", type=Path)
    run.add_argument("--out", type=Path, help="output directory (default: dist/NAME-VERSION)")
    run.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                     help="stages run in parallel (default: CPU count)")
    run.add_argument("--stage", action="append", default=[], metavar="ID",
                     help="run only this stage (for CI jobs); repeat it to run several, in "
                     "the order of their needs, as one job")
    run.add_argument("--artifacts", type=Path,
                     help="directory with the outputs and manifests of the stage's needs")
    run.add_argument("--dry-run", action="store_true",
                     help="run local stages, plan external ones; reads no credential")
    run.add_argument("--report", type=Path, action="append", default=[],
                     help="write the review report (.md or .json); repeatable")
    run.add_argument("--allow-dirty", action="store_true",
                     help="build although tracked files have uncommitted changes (recorded)")
    run.add_argument("--no-sandbox", action="store_true",
                     help="for debugging: run builds without the sandbox (recorded in the "
                     "manifest; refused while credentials are in the environment)")
    run.add_argument("--no-sandbox-with-credentials", action="store_true",
                     help="with --no-sandbox: run although credentials are in the "
                     "environment, where every build can read them")
    run.add_argument("--verify-reproducible", action="store_true",
                     help="build every stage twice and compare the outputs byte for byte")
    run.add_argument("--expect-manifest", action="append", default=[], metavar="STAGE=SHA256",
                     help="with --artifacts: the sha256 of a need's manifest, as the job that "
                     "built it reported (binds the hand-off; repeatable)")
    run.add_argument("--allow-broad-token", action="store_true",
                     default=os.environ.get("RELEASE_ALLOW_BROAD_TOKEN") == "1",
                     help="accept a classic GitHub token whose scopes exceed a stage's needs "
                     "(env: RELEASE_ALLOW_BROAD_TOKEN=1)")
    run.add_argument("--approved-plan", type=Path, metavar="REPORT.json",
                     help="refuse external effects unless the built artifacts are exactly "
                     "those of this approved dry-run report")

    sub.add_parser("schema", help="print the JSON Schema of pipeline files")
    sub.add_parser("stages", help="list the stage kinds")
    # the top-level options take no value: the first other word is the command
    command = next((a for a in argv if not a.startswith("-")), None)
    for name, module, text in COMMANDS:
        command_parser = sub.add_parser(name, help=text)
        if name == command:
            importlib.import_module(module).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 a stage or check failed, 2 bad input)."""
    # pydantic plugins are entry points of whatever else is installed: validating a
    # pipeline runs none of them (nor scans every installed distribution to find them)
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    # one redactor for both streams: secrets a run learns are masked everywhere
    redactor = Redactor.from_environment(os.environ)
    out, err = _Redacting(sys.stdout, redactor), _Redacting(sys.stderr, redactor)
    sys.stdout, sys.stderr = out, err
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = _parser(argv).parse_args(argv)
        try:
            return _dispatch(args)
        except ReleaseError as exc:
            if args.debug:
                traceback.print_exc()
            print(exc.render(), file=sys.stderr)
            _annotate(exc)
            return exc.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # the reader went away (e.g. `release schema | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            return 1
        except Exception as exc:
            if args.debug:
                traceback.print_exc()
            print(f"internal error: {type(exc).__name__}: {exc}\n"
                  "  hint: rerun with --debug and report the traceback", file=sys.stderr)
            return 1
    finally:
        sys.stdout, sys.stderr = out._stream, err._stream


def _annotate(exc: ReleaseError) -> None:
    """GitHub Actions workflow commands, so errors show on the file and line."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for d in exc.diagnostics:
        props = []
        if d.location:
            props.append(f"file={d.location.file}")
            if d.location.line:
                props.append(f"line={d.location.line}")
            if d.location.column:
                props.append(f"col={d.location.column}")
        text = d.message + (f" ({d.hint})" if d.hint else "")
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        level = "error" if d.severity == "error" else "notice"
        print(f"::{level} {','.join(props)}::{text}")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return _plan(args)
    if args.command == "run":
        return _run(args)
    if args.command == "schema":
        from release.pipeline.schema import schema_text

        print(schema_text(), end="")
        return 0
    if args.command == "stages":
        from release.stages import KINDS

        width = max(len(k) for k in KINDS)
        for name, kind in KINDS.items():
            print(f"{name.ljust(width)}  {kind.description}")
        return 0
    for name, module, _ in COMMANDS:
        if args.command == name:
            code: int = importlib.import_module(module).run(args)
            return code
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover


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


def _source(pipeline: object) -> object:
    from release.engine.source import discover
    from release.pipeline.load import LoadedPipeline

    assert isinstance(pipeline, LoadedPipeline)
    src = pipeline.model.source
    return discover(pipeline.path.resolve(), tags=src.tags, version=src.version,
                    repository=src.repository, environ=dict(os.environ), path=src.path,
                    where=lambda key: pipeline.document.location(("source", key)))


def _plan(args: argparse.Namespace) -> int:
    from release.engine.source import SourceFacts
    from release.engine.subtree import SourcePathError
    from release.pipeline.load import load
    from release.report import plan as render

    pipeline = load(args.pipeline)
    try:
        source = _source(pipeline)
        assert isinstance(source, SourceFacts)
    except SourcePathError:
        raise  # in a checkout, a folder that is not there is an error of the pipeline
    except ReleaseError:
        source = None  # a plan does not need a checkout
    data = render.plan_data(pipeline, source)
    if args.format != "table":  # reviewers see which stages share a job, and its needs
        data["jobs"] = render.jobs_data(pipeline)
    text = {"json": render.render_json, "markdown": render.render_markdown,
            "table": render.render_table}[args.format](data)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from release.engine.run_options import RunOptions
    from release.engine.runner import Runner
    from release.engine.source import SourceFacts
    from release.pipeline.load import load
    from release.report.console import (
        LiveReporter,
        PlainReporter,
        render_plans,
        render_summary,
    )
    from release.report.review import review_markdown, write_report

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.artifacts is not None and not args.stage:
        raise UsageError("--artifacts needs --stage", "pass the stage this job runs")
    pipeline = load(args.pipeline)
    source = _source(pipeline)
    assert isinstance(source, SourceFacts)
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
    redactor = (sys.stdout.redactor if isinstance(sys.stdout, _Redacting)
                else Redactor.from_environment(os.environ))
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
