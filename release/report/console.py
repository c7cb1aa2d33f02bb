"""Live progress while stages run, and the closing summary table.

Plain lines when output is not a terminal or in CI; a rich live view otherwise.
Everything shown has already passed through redaction.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.table import Table

    from release.engine.contract import PlannedAction
    from release.engine.results import RunResult, StageResult


class PlainReporter:
    """One line per event: ``[stage] text``; safe for logs and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def _emit(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def started(self, stage: str, kind: str) -> None:
        self._emit(f"[{stage}] start ({kind})")

    def line(self, stage: str, text: str) -> None:
        self._emit(f"[{stage}] {text}")

    def finished(self, result: StageResult) -> None:
        why = f": {result.reason}" if result.reason else ""
        self._emit(f"[{result.stage}] {result.status.value}{why}")


class LiveReporter(PlainReporter):
    """A rich live view of running stages above the streamed output."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.running: dict[str, tuple[str, float]] = {}
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         transient=True, redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def _render(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for stage, (kind, started) in sorted(self.running.items()):
            table.add_row(Text("running", style="bold cyan"), Text(stage), Text(kind),
                          Text(f"{now - started:.0f}s"))
        return table

    def _emit(self, text: str) -> None:
        with self._lock:
            self.live.update(self._render(), refresh=False)
            self.console.print(text, markup=False, highlight=False)

    def started(self, stage: str, kind: str) -> None:
        self.running[stage] = (kind, time.monotonic())
        super().started(stage, kind)

    def finished(self, result: StageResult) -> None:
        self.running.pop(result.stage, None)
        super().finished(result)

    def close(self) -> None:
        self.live.stop()


def format_step(step: PlannedAction, code: str = "") -> str:
    """One planned action on one line: what, where, digest, permission, identity."""
    extra = [f"{code}{step.digest}{code}" if step.digest else "",
             f"needs {step.permission}" if step.permission else "",
             f"as {step.identity}" if step.identity else ""]
    detail = "; ".join(e for e in extra if e)
    return f"{step.action} {step.target}".rstrip() + (f" ({detail})" if detail else "")


def render_plans(result: RunResult) -> str:
    """The external effects a dry-run did not perform, stage by stage."""
    lines = []
    for sid, res in result.results.items():
        if res.plan:
            lines.append(f"{sid} ({res.kind}) would:")
            lines += [f"  {i}. {format_step(step)}" for i, step in enumerate(res.plan, 1)]
    return "\n".join(lines)


def summary_rows(result: RunResult) -> list[list[str]]:
    rows = []
    for sid, res in result.results.items():
        status = res.status.value + (f" ({res.reason})" if res.reason else "")
        arts = ", ".join(a.name for a in res.artifacts) or "-"
        matrix = [result.expansions.get(sid, "-")] if result.expansions else []
        rows.append([sid, res.kind, *matrix, status, f"{res.duration:.1f}s", arts])
    return rows


SUMMARY_HEADERS = ["stage", "kind", "status", "duration", "artifacts"]


def summary_headers(result: RunResult) -> list[str]:
    """The summary's columns; ``matrix`` when the pipeline expanded a matrix."""
    return [*SUMMARY_HEADERS[:2], "matrix", *SUMMARY_HEADERS[2:]] if result.expansions \
        else SUMMARY_HEADERS


def render_summary(result: RunResult) -> str:
    rows = summary_rows(result)
    headers = summary_headers(result)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def summary_markdown(result: RunResult) -> str:
    headers = summary_headers(result)
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
              for r in summary_rows(result)]
    return "\n".join(lines) + "\n"
