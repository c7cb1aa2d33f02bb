"""The outcome of verifying a release: one line per check, as text or JSON."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.Enum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    #: Not applicable or not checkable here (e.g. no expected commit); never a failure.
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One check: what was checked (``check``), on which file, and what came out.

    A failing check says what was expected and what was found, so a consumer
    can tell a tampered file from a wrong command line.
    """

    check: str
    subject: str
    outcome: Outcome
    message: str
    expected: str | None = None
    found: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAIL

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "subject": self.subject,
                                "outcome": self.outcome.value, "message": self.message}
        if self.expected is not None:
            data["expected"] = self.expected
        if self.found is not None:
            data["found"] = self.found
        return data

    def render(self) -> str:
        head = f"{self.outcome.name:<4}  {self.check:<10}  {self.subject}: {self.message}"
        if self.outcome is Outcome.FAIL and (self.expected or self.found):
            head += f"\n{'':18}expected: {self.expected or '-'}\n{'':18}found:    " \
                    f"{self.found or '-'}"
        return head


@dataclass
class Report:
    """Every check made, in order; ``ok`` only if none failed."""

    directory: str
    checks: list[Check] = field(default_factory=list)

    def passed(self, check: str, subject: str, message: str) -> None:
        self.checks.append(Check(check, subject, Outcome.PASS, message))

    def failed(self, check: str, subject: str, message: str, *, expected: str | None = None,
               found: str | None = None) -> None:
        self.checks.append(Check(check, subject, Outcome.FAIL, message, expected, found))

    def skipped(self, check: str, subject: str, message: str) -> None:
        self.checks.append(Check(check, subject, Outcome.SKIP, message))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "ok": self.ok,
                "passed": sum(c.outcome is Outcome.PASS for c in self.checks),
                "failed": len(self.failures()),
                "checks": [c.to_json() for c in self.checks]}

    def render(self) -> str:
        lines = [c.render() for c in self.checks]
        failed = len(self.failures())
        passed = sum(c.outcome is Outcome.PASS for c in self.checks)
        verdict = "verified" if self.ok else "NOT verified"
        lines.append(f"{self.directory}: {verdict} ({passed} passed, {failed} failed)")
        return "\n".join(lines)
