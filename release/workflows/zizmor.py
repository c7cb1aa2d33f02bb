"""Run zizmor (its PyPI wheel) offline with the pedantic persona and read its findings.

https://docs.zizmor.sh/usage/#output-formats documents the JSON (v1) output; positions
are 0-based rows and columns. Configuration files are not loaded (``--no-config``), so
a repository cannot quietly disable an audit; inline ``# zizmor: ignore[...]`` comments,
which a reviewer sees beside the line, are honoured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from release.errors import ReleaseError
from release.workflows.findings import Finding, Severity

#: zizmor's exit codes when it ran and found something (10 + highest severity).
_FINDINGS_EXIT = range(10, 15)
_TIMEOUT = 300


def executable() -> str:
    """zizmor beside this interpreter (a virtualenv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "zizmor"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("zizmor")
    if found is None:
        raise ReleaseError("zizmor is not installed", "install it: pip install zizmor "
                           "(it is in requirements/dev.txt)")
    return found


def audit(files: list[Path], display: dict[Path, str]) -> list[Finding]:
    """zizmor's findings on ``files``; ``display`` maps each file to the name to report."""
    if not files:
        return []
    argv = [executable(), "--offline", "--persona", "pedantic", "--format", "json",
            "--no-config", "--no-progress", "--color", "never", "--strict-collection",
            *map(str, files)]
    # a scrubbed environment: zizmor gets no token, and offline mode needs none
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["RUST_BACKTRACE"] = "0"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env,
                              timeout=_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"zizmor did not finish within {_TIMEOUT}s") from exc
    if proc.returncode != 0 and proc.returncode not in _FINDINGS_EXIT:
        raise ReleaseError(f"zizmor failed (exit {proc.returncode}): {_reason(proc.stderr)}",
                           "fix the workflow; zizmor --offline FILE shows its full output")
    try:
        data = json.loads(proc.stdout or "[]")
    except ValueError as exc:
        raise ReleaseError(f"zizmor printed output that is not JSON: {exc}") from exc
    by_name = {str(f): shown for f, shown in display.items()}
    return [f for raw in data if (f := _finding(raw, by_name)) is not None]


def _reason(stderr: str) -> str:
    """The lines of zizmor's error that say what is wrong, without its log and backtrace."""
    kept: list[str] = []
    for raw in stderr.split("Stack backtrace:")[0].splitlines():
        line = raw.strip()
        if not line or line.startswith(("INFO ", "WARN ", "fatal:", "Caused by")):
            continue
        kept.append(line.split(": ", 1)[1] if line[:2].rstrip(":").isdigit() else line)
    return "; ".join(kept[:4]) or "no message"


def _finding(raw: dict[str, Any], display: dict[str, str]) -> Finding | None:
    if raw.get("ignored"):
        return None
    primary = next((loc for loc in raw.get("locations", [])
                    if loc.get("symbolic", {}).get("kind") == "Primary"),
                   (raw.get("locations") or [None])[0])
    file, line, column, note = "?", None, None, ""
    if primary:
        key = primary.get("symbolic", {}).get("key", {}).get("Local", {})
        name = str(key.get("verbatim_path") or key.get("given_path") or "?")
        file = display.get(name, name)
        point = primary.get("concrete", {}).get("location", {}).get("start_point", {})
        if "row" in point:
            line, column = int(point["row"]) + 1, int(point.get("column", 0)) + 1
        note = str(primary.get("symbolic", {}).get("annotation") or "")
    ident = str(raw.get("ident", "unknown"))
    desc = str(raw.get("desc", ident))
    severity = Severity.parse(str(raw.get("determinations", {}).get("severity", "unknown")))
    url = raw.get("url")
    return Finding(
        rule=f"zizmor/{ident}", severity=severity, file=file, line=line, column=column,
        message=f"{desc}: {note}" if note else desc, why=desc,
        fix=f"see {url}" if url else "see zizmor's documentation", source="zizmor",
        url=str(url) if url else None,
    )
