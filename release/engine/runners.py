"""``runs-on:``: the runner a stage's generated job runs on, and whether this host stands in.

A stage runs in GitHub Actions on the runner it names: a GitHub-hosted label
(``ubuntu-24.04``, ``macos-15``, ``windows-2025``...) or a list of labels that a
self-hosted or larger runner carries (https://docs.github.com/en/actions/writing-workflows/choosing-where-your-workflow-runs/choosing-the-runner-for-a-job).
Locally, the engine runs a stage only when this host can stand in for that runner: same
operating system, and same architecture where the label names one (``-arm``, or
``arm64``/``x64`` in a label list). Others are skipped, with
the reason, never silently.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Mapping, Sequence

DEFAULT_RUNNER = "ubuntu-24.04"
#: GitHub-hosted runner families; the version part changes as GitHub adds images.
_HOSTED = re.compile(r"^(ubuntu|macos|windows)-[a-z0-9][a-z0-9.-]*$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_OS_NAMES = {"ubuntu": "linux", "linux": "linux", "macos": "macos", "windows": "windows"}
_SHOWN = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}
_ARCHS = {"x64": "x64", "x86_64": "x64", "amd64": "x64", "arm64": "arm64",
          "aarch64": "arm64", "arm": "arm64"}
MAX_LABELS = 10


#: A ``{matrix.X}`` placeholder (replaced before the check), without any expression.
_PLACEHOLDER = r"[^$]*\{matrix\.[^$]*"
#: What ``runs-on`` looks like, for editors (:func:`check_runs_on` says what is wrong).
RUNS_ON_SCHEMA = {
    "anyOf": [{"type": "string",
               "pattern": f"^(?:{_HOSTED.pattern[1:-1]}|{_PLACEHOLDER})$"},
              {"type": "array", "minItems": 1, "maxItems": MAX_LABELS, "uniqueItems": True,
               "items": {"type": "string",
                         "pattern": f"^(?:{_LABEL.pattern[1:-1]}|{_PLACEHOLDER})$"}}],
}


def check_runs_on(value: str | list[str]) -> str | list[str]:
    """A pydantic validator: a GitHub-hosted label, or a list of plain runner labels."""
    labels = [value] if isinstance(value, str) else value
    for label in labels:
        if "${{" in label or "{" in label:
            raise ValueError(f"runner {label!r} holds an expression or placeholder: runs-on is "
                             "written into the workflow as it is, so it must be plain labels")
    if isinstance(value, str):
        if not _HOSTED.match(value):
            raise ValueError(f"{value!r} is not a GitHub-hosted runner label (ubuntu-*, "
                             "macos-*, windows-*); for a self-hosted or larger runner give "
                             "the list of its labels, e.g. [self-hosted, linux, x64]")
        return value
    if not 1 <= len(value) <= MAX_LABELS:
        raise ValueError(f"give between 1 and {MAX_LABELS} runner labels")
    for label in value:
        if not _LABEL.match(label) or len(label) > 100:
            raise ValueError(f"runner label {label!r} must be letters, digits, '.', '_' and "
                             "'-'")
    if len(set(value)) != len(value):
        raise ValueError("a runner label is listed twice")
    return value


def show(runs_on: str | list[str]) -> str:
    """``macos-15`` or ``[self-hosted, linux, arm64]``, as the file spells it."""
    return runs_on if isinstance(runs_on, str) else "[" + ", ".join(runs_on) + "]"


def runner_platform(runs_on: str | list[str]) -> tuple[str | None, str | None]:
    """(operating system, architecture) a runner label or label list names, where it does."""
    if isinstance(runs_on, str):
        family = runs_on.split("-", 1)[0]
        arm = runs_on.endswith("-arm") or "-arm-" in runs_on
        # only `-arm` names an architecture: the plain labels (the default among them) are
        # x64 on GitHub, but an arm64 Linux host still stands in for them, as before
        # runs-on existed; macOS labels name none reliably (macos-13 is Intel)
        arch = "arm64" if arm and family != "macos" else None
        return _OS_NAMES.get(family), arch
    lowered = [label.lower() for label in runs_on]
    systems = {_OS_NAMES[x] for x in lowered if x in _OS_NAMES and x != "ubuntu"}
    archs = {_ARCHS[x] for x in lowered if x in _ARCHS}
    return (systems.pop() if len(systems) == 1 else None,
            archs.pop() if len(archs) == 1 else None)


def host_platform() -> tuple[str, str]:
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform,
                                                                          sys.platform)
    machine = platform.machine().lower()
    return system, _ARCHS.get(machine, machine)


def local_skip(runs_on: str | list[str], host: tuple[str, str] | None = None) -> str | None:
    """Why this host cannot stand in for the runner, or None when it can."""
    system, arch = host or host_platform()
    want_os, want_arch = runner_platform(runs_on)
    here = f"this {_SHOWN.get(system, system)} {arch} host"
    if want_os is None:
        return (f"runs on {show(runs_on)}, whose labels do not name one operating system; "
                f"{here} does not stand in for it (it runs in its job of the generated "
                "workflow)")
    if want_os != system or (want_arch is not None and want_arch != arch):
        what = _SHOWN[want_os] + (f" {want_arch}" if want_arch else "")
        # the generated workflow refuses Windows runners: the engine does not run there
        where = "" if want_os == "windows" else "; it runs in its job of the generated workflow"
        return f"runs on {show(runs_on)} ({what}): {here} cannot stand in for it{where}"

    return None


def skipped_here(order: list[str], needs: Mapping[str, Sequence[str]],
                 runs_on: Mapping[str, str | list[str]],
                 host: tuple[str, str] | None = None) -> dict[str, str]:
    """Stages (in ``order``, topological) a full run on this host skips, with the reason:
    their runner is not one this host stands in for, or they need such a stage."""
    skipped: dict[str, str] = {}
    for stage in order:
        if why := local_skip(runs_on[stage], host):
            skipped[stage] = why
        elif need := next((n for n in needs[stage] if n in skipped), None):
            skipped[stage] = f"needs {need!r}, which was skipped: not built on this host"
    return skipped
