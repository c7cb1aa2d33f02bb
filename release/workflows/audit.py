"""``release audit``: find the workflows, run our rules and zizmor, gather the findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from release.errors import UsageError
from release.workflows import zizmor
from release.workflows.document import Workflow, load_workflow
from release.workflows.findings import Finding, Rule, Severity
from release.workflows.rules import RULES

DEFAULT_PATH = Path(".github/workflows")


@dataclass(frozen=True)
class AuditResult:
    files: list[Path]
    findings: list[Finding]

    def at_least(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]


def rules() -> list[Rule]:
    """Our rules, in order."""
    return [rule for rule, _ in RULES]


def collect(paths: Sequence[Path]) -> list[Path]:
    """Workflow files named by ``paths`` (files, or directories searched for *.yml/*.yaml)."""
    found: list[Path] = []
    for path in paths or [DEFAULT_PATH]:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            base = path / ".github" / "workflows"
            base = base if base.is_dir() else path
            found += sorted(p for p in base.rglob("*") if p.suffix in (".yml", ".yaml")
                            and p.is_file())
        else:
            raise UsageError(f"{path}: no such file or directory",
                             "pass workflow files or directories (default: .github/workflows)")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no workflow files found", "pass .yml/.yaml workflow files or the "
                         "directories holding them")
    return unique


def display_name(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def repository_root(path: Path) -> Path | None:
    for candidate in (path.parent, *path.parent.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def run_rules(wf: Workflow) -> list[Finding]:
    """Our rules' findings on one workflow."""
    out: list[Finding] = []
    for rule, check in RULES:
        for hit in check(wf):
            loc = wf.location(hit.path, key=hit.key) if hit.path else None
            line, column = (loc.line, loc.column) if loc else (1, 1)
            if hit.line is not None:
                line, column = hit.line, 1
            out.append(Finding(rule.id, rule.severity, wf.display, line, column,
                               hit.message, rule.why, rule.fix, "release", rule.url))
    return out


def audit(paths: Sequence[Path], *, use_zizmor: bool = True) -> AuditResult:
    """Audit every workflow under ``paths`` with our rules and (by default) zizmor."""
    files = collect(paths)
    display = {p: display_name(p) for p in files}
    findings: list[Finding] = []
    workflows: list[Path] = []
    for path in files:
        wf = load_workflow(path, repository_root(path), display[path])
        if "jobs" not in wf.data:
            continue  # an action definition or other YAML: zizmor and our rules skip it
        workflows.append(path)
        findings += run_rules(wf)
    if use_zizmor:
        findings += zizmor.audit(workflows, display)
    findings.sort(key=Finding.sort_key)
    return AuditResult(workflows, findings)
