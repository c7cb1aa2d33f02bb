"""What an audit reports: rules, severities and findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from release.yamlsource import YamlPath

#: Where the docs of our rules live; ``#<rule-id>`` is each rule's section.
DOCS_URL = "https://github.com/release-pipeline/release-pipeline/blob/main/docs/audit.md"


class Severity(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Ours and zizmor's names; zizmor's informational/unknown count as low."""
        lowered = text.lower()
        if lowered in ("informational", "unknown"):
            return cls.LOW
        return cls[lowered.upper()]


@dataclass(frozen=True)
class Rule:
    """One audit rule of ours: a stable id with a docs section, and what to do about it."""

    id: str
    severity: Severity
    description: str
    why: str
    fix: str

    @property
    def url(self) -> str:
        return f"{DOCS_URL}#{self.id}"


@dataclass(frozen=True)
class Hit:
    """Where a rule matched, and what exactly is wrong there."""

    path: YamlPath
    message: str
    key: bool = False
    #: A line to report instead of the path's position (e.g. the first line that drifted).
    line: int | None = None


@dataclass(frozen=True)
class Finding:
    """One problem at one place in one workflow."""

    rule: str
    severity: Severity
    file: str
    line: int | None
    column: int | None
    message: str
    why: str
    fix: str
    source: str = "release"
    url: str | None = None

    @property
    def where(self) -> str:
        parts = [self.file]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line or 0, self.column or 0, self.rule)

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "severity": str(self.severity), "file": self.file,
                "line": self.line, "column": self.column, "message": self.message,
                "why": self.why, "fix": self.fix, "source": self.source, "url": self.url}
