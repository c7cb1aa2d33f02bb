"""Audit output: text for people, JSON for scripts, SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
from pathlib import PurePath

from release import __version__
from release.workflows.findings import DOCS_URL, Finding, Rule, Severity

#: SARIF levels and GitHub code scanning's numeric security severity per our severity
#: (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning#reportingdescriptor-object).
_LEVEL = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
_SECURITY_SEVERITY = {Severity.HIGH: "8.0", Severity.MEDIUM: "5.0", Severity.LOW: "2.0"}


def render_text(findings: list[Finding], files: int) -> str:
    """``file:line:col: severity [rule] message`` with the why and the fix beneath."""
    lines: list[str] = []
    for f in findings:
        lines.append(f"{f.where}: {f.severity} [{f.rule}] {f.message}")
        if f.source != "zizmor":
            lines.append(f"  why: {f.why}")
        lines.append(f"  fix: {f.fix}")
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), reverse=True) if n)
    noun = "file" if files == 1 else "files"
    lines.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} "
                 f"{noun}" + (f" ({summary})" if summary else ""))
    return "\n".join(lines) + "\n"


def render_json(findings: list[Finding], files: int) -> str:
    data = {"format": 1, "files": files, "findings": [f.to_json() for f in findings]}
    return json.dumps(data, indent=2) + "\n"


def render_sarif(findings: list[Finding], rules: list[Rule]) -> str:
    """One SARIF 2.1.0 run: our rules, the zizmor audits that fired, and the results."""
    descriptors: list[dict[str, object]] = [
        {"id": r.id, "name": r.id, "shortDescription": {"text": r.description},
         "fullDescription": {"text": r.why}, "helpUri": r.url,
         "help": {"text": f"{r.why}. Fix: {r.fix}.", "markdown": f"{r.why}.\n\n**Fix:** {r.fix}."},
         "defaultConfiguration": {"level": _LEVEL[r.severity]},
         "properties": {"security-severity": _SECURITY_SEVERITY[r.severity],
                        "tags": ["security", "github-actions"]}}
        for r in rules
    ]
    index = {r.id: i for i, r in enumerate(rules)}
    for f in findings:
        if f.rule not in index:
            index[f.rule] = len(descriptors)
            descriptors.append({
                "id": f.rule, "name": f.rule, "shortDescription": {"text": f.why},
                "helpUri": f.url or DOCS_URL, "help": {"text": f.fix},
                "defaultConfiguration": {"level": _LEVEL[f.severity]},
                "properties": {"security-severity": _SECURITY_SEVERITY[f.severity],
                               "tags": ["security", "github-actions", "zizmor"]}})
    results = []
    for f in findings:
        location: dict[str, object] = {
            "artifactLocation": {"uri": PurePath(f.file).as_posix(), "uriBaseId": "%SRCROOT%"}}
        if f.line:
            location["region"] = {"startLine": f.line, **({"startColumn": f.column}
                                                          if f.column else {})}
        results.append({"ruleId": f.rule, "ruleIndex": index[f.rule], "level": _LEVEL[f.severity],
                        "message": {"text": f"{f.message}. Fix: {f.fix}"},
                        "locations": [{"physicalLocation": location}]})
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "release audit", "version": __version__,
                                      "informationUri": DOCS_URL, "rules": descriptors}},
                  "results": results}],
    }
    return json.dumps(sarif, indent=2) + "\n"
