"""What a step does, read from its ``run:`` script or the action it uses.

Heuristics, deliberately on the side of reporting: a build or a test runs code that the
workflow's author did not review line by line (the project's and its dependencies').
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from release.engine.contract import Effect
from release.workflows.document import Step, Workflow

_BUILD_OR_TEST = re.compile(
    r"(?:^|[\s;&|(`])(?:"
    r"pytest|tox|nox|make|cmake|ninja|meson|bazel|bazelisk|gradle|gradlew|\./gradlew|mvn|mvnw|"
    r"ant|sbt|msbuild|maturin|gcc|g\+\+|clang|rustc|javac|buildah|goreleaser|"
    r"dotnet\s+(?:build|test|publish|pack|run)|cargo\s+(?:build|test|run|install|publish|b|t)|"
    r"go\s+(?:build|test|run|install|generate|vet)|"
    r"(?:npm|pnpm|yarn|bun)\s+(?:ci|install|i|test|t|run|build|pack|publish|exec)|"
    r"(?:python3?|py)\s+(?:-m\s+(?:build|pytest|tox|nox|unittest)|setup\.py)|"
    r"pip3?\s+install\s+(?:-e\s+|--editable\s+)?\.(?:\s|$|\[)|"
    r"(?:docker|podman)\s+(?:build|buildx\s+build|compose\s+build)|"
    r"(?:hatch|flit|poetry|pdm|uv)\s+(?:build|install|sync|run|test)"
    r")(?=$|[\s;&|)`])", re.MULTILINE)
_UNLOCKED_INSTALL = re.compile(
    r"(?:^|[\s;&|(`])(?:npm\s+(?:install|i)(?:\s|$)|yarn(?:\s+install)?(?:\s|$)|pnpm\s+(?:install|i)"
    r"|gem\s+install|go\s+(?:get|install)|cargo\s+install|pipx\s+(?:install|run)|uvx|npx"
    r"|(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z)?sh)", re.MULTILINE)
_PIP_INSTALL = re.compile(r"\bpip3?\s+install\b[^\n;&|]*")
#: Actions that build or test the code they are pointed at.
BUILD_ACTIONS = frozenset({
    "pyo3/maturin-action", "docker/build-push-action", "goreleaser/goreleaser-action",
    "pypa/cibuildwheel", "hynek/build-and-inspect-python-package", "gradle/gradle-build-action",
    "gradle/actions/setup-gradle", "github/codeql-action/autobuild",
})
_VERSION = re.compile(r"#\s*v?(\d+)")
_TAG = re.compile(r"^v?(\d+)")


def builds_or_tests(wf: Workflow, step: Step) -> bool:
    """True when the step builds or tests code."""
    if step.action in BUILD_ACTIONS:
        return True
    if _BUILD_OR_TEST.search(step.run):
        return True
    return any(_stage_builds(wf, argv) for argv in _release_runs(step.run))


def unlocked_install(step: Step) -> bool:
    """True when the step installs packages that no lock with hashes pins."""
    if _UNLOCKED_INSTALL.search(step.run):
        return True
    for match in _PIP_INSTALL.finditer(step.run):
        try:
            words = shlex.split(match.group(0))
        except ValueError:
            return True
        if "--require-hashes" in words:
            continue
        targets = [w for w in words[2:] if not w.startswith("-")]
        # the project itself, without resolving dependencies: nothing is downloaded
        if "--no-deps" in words and targets and all(t.startswith((".", "/")) for t in targets):
            continue
        return True
    return False


def major_version(wf: Workflow, step: Step) -> int | None:
    """The action's major version: from a ``@v4`` ref, or a ``# v4.2.0`` pin comment."""
    ref = (step.uses or "").partition("@")[2]
    tag = _TAG.match(ref)
    if tag and not re.fullmatch(r"[0-9a-f]{40}", ref):
        return int(tag.group(1))
    line = wf.location((*step.path, "uses")).line
    _, hash_sign, comment = wf.line_text(line or 0).partition("#")
    version = _VERSION.search(hash_sign + comment) if hash_sign else None
    return int(version.group(1)) if version else None


def declares_package_manager(wf: Workflow) -> bool | None:
    """Whether the repository's package.json names a packageManager (None: unknown)."""
    if wf.root is None:
        return None
    path = wf.root / "package.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return False
    engines = data.get("devEngines")
    return "packageManager" in data or (isinstance(engines, dict) and "packageManager" in engines)


def _release_runs(script: str) -> list[list[str]]:
    """argv of each ``release run ...`` command line in a script."""
    found: list[list[str]] = []
    for line in script.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i in range(len(words) - 1):
            if words[i].endswith("release") and words[i + 1] == "run":
                found.append(words[i + 2:])
    return found


def _stage_builds(wf: Workflow, argv: list[str]) -> bool:
    """Whether ``release run ARGV`` runs a stage that builds from source."""
    from release.errors import ReleaseError
    from release.pipeline.load import load

    positional = [a for i, a in enumerate(argv)
                  if not a.startswith("-") and (i == 0 or not argv[i - 1].startswith("--"))]
    # every stage a packed job runs (`--stage A --stage B`): building if any of them builds
    named = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--stage"]
    if not positional or wf.root is None:
        return True  # cannot tell which pipeline: assume it builds
    try:
        pipeline = load(wf.root / Path(positional[0]))
    except ReleaseError:
        return True
    known = named and all(s in pipeline.model.stages for s in named)
    stages = named if known else list(pipeline.model.stages)
    dry = "--dry-run" in argv
    return any(pipeline.kind(s).uses_source and not
               (dry and pipeline.kind(s).effects(pipeline.config(s)) is Effect.EXTERNAL)
               for s in stages)
