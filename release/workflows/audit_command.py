"""``release audit [PATH ...]``: zizmor plus our rules; exit 1 on findings at a severity."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                        help="workflow files or directories (default: .github/workflows)")
    parser.add_argument("--format", choices=["text", "json", "sarif"],
                        default=os.environ.get("RELEASE_AUDIT_FORMAT", "text"),
                        help="output format (env: RELEASE_AUDIT_FORMAT)")
    parser.add_argument("--severity", choices=["low", "medium", "high"],
                        default=os.environ.get("RELEASE_AUDIT_SEVERITY", "low"),
                        help="report and fail on findings at or above this severity "
                             "(default: low; zizmor's informational counts as low)")


def run(args: argparse.Namespace) -> int:
    from release.errors import UsageError
    from release.workflows.audit import audit, rules
    from release.workflows.findings import Severity
    from release.workflows.report import render_json, render_sarif, render_text

    if args.format not in ("text", "json", "sarif") or args.severity not in ("low", "medium",
                                                                             "high"):
        raise UsageError(f"invalid --format {args.format!r} or --severity {args.severity!r}",
                         "check RELEASE_AUDIT_FORMAT and RELEASE_AUDIT_SEVERITY")
    result = audit(args.paths)
    shown = result.at_least(Severity.parse(args.severity))
    if args.format == "json":
        text = render_json(shown, len(result.files))
    elif args.format == "sarif":
        text = render_sarif(shown, rules())
    else:
        text = render_text(shown, len(result.files))
    print(text, end="")
    return 1 if shown else 0
