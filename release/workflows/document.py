"""A GitHub Actions workflow file read with the position of every key and value."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.errors import Location, ReleaseError
from release.yamlsource import YamlDocument, YamlPath, parse

MAX_BYTES = 1024 * 1024
WRITE_ALL = "write-all"


@dataclass(frozen=True)
class Step:
    """One step of a job, with its YAML path."""

    job: str
    index: int
    data: dict[str, Any]

    @property
    def path(self) -> YamlPath:
        return ("jobs", self.job, "steps", self.index)

    @property
    def uses(self) -> str | None:
        value = self.data.get("uses")
        return value if isinstance(value, str) else None

    @property
    def action(self) -> str:
        """``owner/name[/path]`` of ``uses:``, lowercased, without the ref."""
        return (self.uses or "").split("@", 1)[0].lower()

    @property
    def run(self) -> str:
        value = self.data.get("run")
        return value if isinstance(value, str) else ""

    def inputs(self) -> dict[str, Any]:
        value = self.data.get("with")
        return value if isinstance(value, dict) else {}


@dataclass
class Workflow:
    """One workflow file: its text, data and positions, and the repository it lives in."""

    path: Path
    display: str
    text: str
    doc: YamlDocument
    root: Path | None

    @property
    def data(self) -> dict[Any, Any]:
        return self.doc.data if isinstance(self.doc.data, dict) else {}

    @property
    def on_key(self) -> str | bool:
        # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true
        return "on" if "on" in self.data else True

    def triggers(self) -> dict[str, Any]:
        """Event name -> its configuration, whatever form ``on:`` takes."""
        value = self.data.get(self.on_key)
        if isinstance(value, str):
            return {value: None}
        if isinstance(value, list):
            return {str(v): None for v in value}
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return {}

    def jobs(self) -> dict[str, dict[str, Any]]:
        value = self.data.get("jobs")
        if not isinstance(value, dict):
            return {}
        return {str(k): v for k, v in value.items() if isinstance(v, dict)}

    def steps(self, job: str) -> Iterator[Step]:
        value = self.jobs().get(job, {}).get("steps")
        if isinstance(value, list):
            for i, step in enumerate(value):
                if isinstance(step, dict):
                    yield Step(job, i, step)

    def permissions(self, job: str) -> Any:
        """The job's effective ``permissions:`` (its own, else the workflow's), or None."""
        data = self.jobs().get(job, {})
        if "permissions" in data:
            return data["permissions"]
        return self.data.get("permissions")

    def location(self, path: YamlPath, *, key: bool = False) -> Location:
        return self.doc.location(path, key=key)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


def writes(permissions: Any) -> list[str]:
    """Permission names granted ``write`` (``*`` for write-all, or when unset: default)."""
    if permissions is None:
        return ["*"]
    if permissions == WRITE_ALL:
        return ["*"]
    if isinstance(permissions, dict):
        return [str(k) for k, v in permissions.items() if v == "write"]
    return []


def load_workflow(path: Path, root: Path | None, display: str | None = None) -> Workflow:
    """Read and parse one workflow; YAML problems are errors with ``file:line:col``."""
    shown = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReleaseError(f"cannot read workflow: {exc.strerror}", "check the path",
                           Location(shown)) from exc
    if len(raw) > MAX_BYTES:
        raise ReleaseError(f"workflow is larger than {MAX_BYTES // 1024} KiB", None,
                           Location(shown))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReleaseError("workflow is not valid UTF-8", "save the file as UTF-8",
                           Location(shown)) from exc
    if not text.strip():
        raise ReleaseError("workflow file is empty", "a workflow needs `on:` and `jobs:`",
                           Location(shown, 1, 1))
    doc = parse(text, shown)
    if not isinstance(doc.data, dict):
        raise ReleaseError("a workflow must be a mapping", "start with `name:`, `on:`, `jobs:`",
                           Location(shown, 1, 1))
    return Workflow(path, shown, text, doc, root)
