"""The one error tree.

Every error the tool reports to a user is a :class:`ReleaseError`. The library
never exits; :func:`release.cli.main` turns an error into its diagnostics, a
hint and an exit code (2 for bad input or usage, 1 for a failed stage or check).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from release.terminal import printable


@dataclass(frozen=True)
class Location:
    """A position in a file, 1-based, as editors and compilers print it."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class Diagnostic:
    """One problem: what is wrong, where, and how to fix it."""

    message: str
    location: Location | None = None
    path: str | None = None
    hint: str | None = None
    severity: str = "error"

    def render(self) -> str:
        # a file name comes from the command line or a path the pipeline names
        where = f"{printable(str(self.location))}: " if self.location else ""
        # messages quote what files and servers hold: never their control characters
        head = f"{where}{self.severity}: {printable(self.message, keep=chr(10))}"
        lines = [head]
        if self.path:  # keys of the file, as written: they may hold any character
            lines.append(f"  at: {printable(self.path)}")
        if self.hint:
            lines.append(f"  hint: {printable(self.hint, keep=chr(10))}")
        return "\n".join(lines)


#: The most diagnostics one error shows: a file with thousands of problems (often echoes
#: of the first few) must not flood a terminal or a CI log.
MAX_SHOWN = 50


@dataclass
class ReleaseError(Exception):
    """Base of every error the tool reports; ``exit_code`` 2 means bad input."""

    message: str
    hint: str | None = None
    location: Location | None = None
    path: str | None = None
    exit_code: int = 2
    extra: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def diagnostics(self) -> list[Diagnostic]:
        first = Diagnostic(self.message, self.location, self.path, self.hint)
        return [first, *self.extra]

    def shown(self) -> tuple[list[Diagnostic], int]:
        """The first :data:`MAX_SHOWN` diagnostics, and how many more there are."""
        every = self.diagnostics
        return every[:MAX_SHOWN], max(len(every) - MAX_SHOWN, 0)

    def render(self) -> str:
        shown, more = self.shown()
        lines = [d.render() for d in shown]
        if more:
            lines.append(f"{more} more problem{'s' if more > 1 else ''} found, not shown: "
                         "fixing the ones above first may resolve them")
        return "\n".join(lines)


class PipelineError(ReleaseError):
    """The pipeline file is unreadable or invalid."""

    @classmethod
    def many(cls, diagnostics: list[Diagnostic]) -> PipelineError:
        first, *rest = diagnostics
        return cls(first.message, first.hint, first.location, first.path, extra=rest)


class UsageError(ReleaseError):
    """The command line asks for something impossible."""


class InputError(ReleaseError):
    """A file of the release commit that a stage reads is invalid (exit code 2): the stage
    fails, and the run then reports each problem at its ``file:line:col``."""

    def summary(self) -> str:
        """The problems on one line, for the stage's reason (as many as are shown)."""
        shown, more = self.shown()
        text = "; ".join(f"{d.location}: {d.message}" if d.location else d.message
                         for d in shown)
        return text + (f"; and {more} more" if more else "")

    @classmethod
    def joined(cls, errors: list[InputError]) -> InputError:
        """One error holding the diagnostics of several."""
        first, *rest = [d for e in errors for d in e.diagnostics]
        return cls(first.message, first.hint, first.location, first.path, extra=rest)


class StageFailed(ReleaseError):
    """A stage ran and failed; exit code 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=1)


class IntegrityError(ReleaseError):
    """An artifact's bytes differ from what was recorded; exit code 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=1)


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """A "did you mean" for a misspelt name (pypa/build's ``_find_typo``)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None
