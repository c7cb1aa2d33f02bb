"""The outcome of verifying a release: one line per check, as text or JSON."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from release.terminal import printable


class Outcome(enum.Enum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    #: Not applicable or not checkable here (e.g. no expected commit); never a failure.
    SKIP = "skip"
    #: A file in the folder that no verified checksum or signature vouches for: a failure.
    UNCOVERED = "uncovered"


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
        return self.outcome not in (Outcome.FAIL, Outcome.UNCOVERED)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "subject": self.subject,
                                "outcome": self.outcome.value, "message": self.message}
        if self.expected is not None:
            data["expected"] = self.expected
        if self.found is not None:
            data["found"] = self.found
        return data

    def render(self) -> str:
        """One line (two more for expected/found); names are escaped, so a file name
        holding a newline cannot print a line of its own."""
        subject, message = printable(self.subject), printable(self.message)
        if self.outcome is Outcome.UNCOVERED:
            return f"UNCOVERED {subject}: {message}"
        head = f"{self.outcome.name:<4}  {self.check:<10}  {subject}: {message}"
        if self.outcome is Outcome.FAIL and (self.expected or self.found):
            head += f"\n{'':18}expected: {printable(self.expected or '-')}\n{'':18}found:    " \
                    f"{printable(self.found or '-')}"
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

    def uncovered(self, subject: str, message: str) -> None:
        self.checks.append(Check("uncovered", subject, Outcome.UNCOVERED, message))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """Failed checks (uncovered files are counted apart: :meth:`count`)."""
        return [c for c in self.checks if c.outcome is Outcome.FAIL]

    def count(self, outcome: Outcome) -> int:
        return sum(c.outcome is outcome for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "ok": self.ok,
                "passed": self.count(Outcome.PASS), "failed": self.count(Outcome.FAIL),
                "uncovered": self.count(Outcome.UNCOVERED),
                "checks": [c.to_json() for c in self.checks]}

    def render(self) -> str:
        lines = [c.render() for c in self.checks]
        uncovered = self.count(Outcome.UNCOVERED)
        verdict = "verified" if self.ok else "NOT verified"
        lines.append(f"{printable(self.directory)}: {verdict} ({self.count(Outcome.PASS)} "
                     f"passed, {self.count(Outcome.FAIL)} failed, {uncovered} uncovered)")
        if uncovered:
            lines.append(f"hint: {uncovered} file(s) in the folder are covered by no verified "
                         "checksum or signature: do not use them. If they are not part of the "
                         "release, name them with --ignore GLOB (repeatable; matched against "
                         "the path relative to the folder)")
        return "\n".join(lines)
