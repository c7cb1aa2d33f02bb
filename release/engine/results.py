"""What a run reports: each stage's status and result, and the reporter protocol."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from release.engine.contract import PlannedAction
from release.engine.manifest import Artifact
from release.engine.source import SourceFacts
from release.errors import InputError


class Status(enum.Enum):
    SUCCESS = "success"
    PLANNED = "planned"
    SKIPPED = "skipped"
    FAILED = "failed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"

    @property
    def ok(self) -> bool:
        return self in (Status.SUCCESS, Status.PLANNED, Status.SKIPPED)


@dataclass
class StageResult:
    stage: str
    kind: str
    status: Status
    reason: str = ""
    duration: float = 0.0
    artifacts: list[Artifact] = field(default_factory=list)
    plan: list[PlannedAction] = field(default_factory=list)
    #: the invalid input file the stage failed on (exit code 2 for the run)
    input_error: InputError | None = None


class Reporter(Protocol):
    def started(self, stage: str, kind: str) -> None: ...
    def line(self, stage: str, text: str) -> None: ...
    def finished(self, result: StageResult) -> None: ...


@dataclass
class RunResult:
    results: dict[str, StageResult]
    manifest_path: Path | None
    source: SourceFacts
    #: stage -> the matrix stage and values it was expanded from (``cli: os=linux``)
    expansions: dict[str, str] = field(default_factory=dict)
    #: stage -> sha256 of the manifest the run wrote for it
    manifests: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status.ok for r in self.results.values())

    def input_error(self) -> InputError | None:
        """The invalid input files stages failed on, as one error; None if there are none."""
        found = [r.input_error for r in self.results.values() if r.input_error is not None]
        return InputError.joined(found) if found else None
