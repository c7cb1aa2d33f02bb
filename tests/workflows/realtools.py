"""The real checkers, run as this project's CI runs them: zizmor and check-jsonschema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.is_file() else (shutil.which(name) or name)


def offline(argv: list[str]) -> list[str]:
    """``argv`` in a network namespace with no interface up: proves a check needs no network."""
    return ["bwrap", "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--", *argv]


def zizmor(*paths: Path) -> list[dict[str, object]]:
    """zizmor's findings (pedantic persona, offline, no config) on ``paths``."""
    proc = subprocess.run(
        offline([tool("zizmor"), "--offline", "--persona", "pedantic", "--no-config",
                 "--format", "json", "--no-progress", *map(str, paths)]),
        capture_output=True, text=True, check=False)
    assert proc.returncode in (0, *range(10, 15)), proc.stderr
    findings: list[dict[str, object]] = json.loads(proc.stdout)
    return findings


def schema_errors(*paths: Path) -> str:
    """check-jsonschema's GitHub workflow schema (bundled with it), run with no network."""
    proc = subprocess.run(
        offline([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 *map(str, paths)]),
        capture_output=True, text=True, check=False)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr
