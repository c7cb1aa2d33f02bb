"""Which runners a generated job may use, and what a stage may hold there.

GitHub's Linux runners get bubblewrap (the job installs it); macOS runners have none, so
their jobs run the stage with ``--no-sandbox`` and may hold no credential; the engine
does not run on Windows. See docs/workflows.md ("Runners and build matrices").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from release.engine.runners import show
from release.errors import PipelineError

if TYPE_CHECKING:
    from release.workflows.facts import StageFacts
    from release.yamlsource import YamlDocument


def check_runner(f: StageFacts, doc: YamlDocument) -> None:
    """Refuse, at the stage's ``runs-on`` line: a label list that does not say the OS (the
    job's steps depend on it), Windows, and credentials on a runner without bubblewrap."""
    path = ("stages", f.stage, "runs-on")
    where = doc.location(path)
    if f.system is None:
        raise PipelineError(f"stage {f.stage!r} runs on {show(f.runs_on)}, whose labels do "
                            "not name its operating system", "add `linux` or `macos` to "
                            "the labels (as self-hosted runners carry them)",
                            where, f"stages.{f.stage}.runs-on")
    if f.system == "windows":
        # safefs opens every path with O_NOFOLLOW and O_DIRECTORY, which Windows lacks
        raise PipelineError(
            f"stage {f.stage!r} runs on {show(f.runs_on)}, but the release engine does not "
            "run on Windows (it relies on POSIX no-follow file operations)",
            "cross-compile the Windows target on a Linux runner (e.g. GOOS=windows), or "
            "build it on macOS", where, f"stages.{f.stage}.runs-on")
    if f.system != "linux" and (f.permissions or f.secrets or f.token or f.sandboxed
                                or f.key):
        raise PipelineError(
            f"stage {f.stage!r} runs on {show(f.runs_on)}, where builds run without the "
            "bubblewrap sandbox, and it has permissions, secrets, a signing key or "
            "`sandbox: true`",
            "build on the native runner with no credential; sign, attest and publish in "
            "stages on Linux that need it", where, f"stages.{f.stage}.runs-on")
