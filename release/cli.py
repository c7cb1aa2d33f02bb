"""The ``release`` command line: a thin argparse front over the library.

Heavy imports (githubkit, sigstore, rich) stay inside the commands that use them,
so ``release --help`` and ``release plan`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from release import __version__
from release.engine.redaction import Redactor
from release.errors import ReleaseError, UsageError
from release.terminal import printable

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
            return _dispatch(args, redactor)
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
    for d in exc.shown()[0]:
        props = []
        if d.location:  # a property is escaped as the Actions toolkit does (escapeProperty)
            file = d.location.file
            for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"),
                               (",", "%2C")):
                file = file.replace(char, code)
            props.append(f"file={file}")
            if d.location.line:
                props.append(f"line={d.location.line}")
            if d.location.column:
                props.append(f"col={d.location.column}")
        text = printable(d.message + (f" ({d.hint})" if d.hint else ""), keep="\r\n")
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        level = "error" if d.severity == "error" else "notice"
        print(f"::{level} {','.join(props)}::{text}")


def _dispatch(args: argparse.Namespace, redactor: Redactor) -> int:
    if args.command == "plan":
        from release.report import plan_command

        return plan_command.run(args)
    if args.command == "run":
        from release.report import run_command

        return run_command.run(args, redactor)
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
