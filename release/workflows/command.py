"""``release workflow generate|check PIPELINE``: write the release workflow, or detect drift."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from release.errors import UsageError

_HELP_OUTPUT = "workflow file (default: .github/workflows/release.yml in the repository)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands ``generate`` and ``check``, which take the same arguments."""
    sub = parser.add_subparsers(dest="workflow_action", metavar="ACTION", required=True)
    for name, text in (("generate", "write the release workflow for a pipeline"),
                       ("check", "fail (exit 1) with a diff when the committed workflow "
                                 "differs from what generate would write")):
        action = sub.add_parser(name, help=text, description=text)
        action.add_argument("pipeline", type=Path)
        action.add_argument("--output", type=Path, help=_HELP_OUTPUT)
        action.add_argument("--environment", default=None,
                            help="GitHub environment of publishing jobs (default: release)")


def repository_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding a ``.git`` entry."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    raise UsageError(f"{start} is not inside a git repository",
                     "run the command on a pipeline inside a checkout of your project")


def expected(pipeline_path: Path, environment: str | None) -> tuple[str, Path]:
    """The generated text and the repository root it belongs to."""
    from release.pipeline.load import load
    from release.workflows.generate import DEFAULT_ENVIRONMENT, Options, generate

    pipeline = load(pipeline_path)
    root = repository_root(pipeline_path.resolve().parent)
    rel = pipeline_path.resolve().relative_to(root).as_posix()
    options = Options(rel, environment or DEFAULT_ENVIRONMENT)
    return generate(pipeline, options), root


def run(args: argparse.Namespace) -> int:
    from release.workflows.generate import DEFAULT_OUTPUT

    text, root = expected(args.pipeline, args.environment)
    output: Path = args.output if args.output is not None else root / DEFAULT_OUTPUT
    if args.workflow_action == "generate":
        _check_replaceable(output, text)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
        return 0
    return check(output, text)


def _check_replaceable(output: Path, text: str) -> None:
    """Refuse to overwrite a file this command did not write for the same pipeline: a
    hand-written workflow, or in a monorepo the workflow of another pipeline."""
    from release.workflows.generate import read_marker

    if not output.exists() and not output.is_symlink():
        return
    ours = read_marker(text)
    assert ours is not None
    try:
        found = None if output.is_symlink() else read_marker(
            output.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        found = None
    if found is None or found.pipeline != ours.pipeline:
        was = f"the workflow of {found.pipeline}" if found else "not a workflow generated here"
        raise UsageError(f"{output} exists and is {was}: not overwritten",
                         f"give {ours.pipeline} its own file with --output "
                         ".github/workflows/NAME.yml, or remove this one first")


def check(output: Path, text: str) -> int:
    """Compare the committed workflow with ``text``; print a unified diff on drift."""
    try:
        committed = output.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"{output}: missing; run `release workflow generate` and commit it",
              file=sys.stderr)
        return 1
    if committed == text:
        print(f"{output}: up to date")
        return 0
    diff = difflib.unified_diff(committed.splitlines(keepends=True),
                                text.splitlines(keepends=True),
                                f"{output} (committed)", f"{output} (generated)")
    sys.stdout.writelines(diff)
    print(f"{output}: differs from its pipeline; run `release workflow generate` and commit "
          "the result", file=sys.stderr)
    return 1
