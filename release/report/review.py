"""The review report of a run: what was built (with digests) and what would be done.

A reviewer reads it in a pull request or a job summary before approving a release.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from release.engine.results import RunResult
from release.pipeline.load import LoadedPipeline
from release.report.console import format_step, summary_markdown


def review_data(pipeline: LoadedPipeline, result: RunResult, dry_run: bool) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for sid, res in result.results.items():
        stages[sid] = {
            "kind": res.kind, "status": res.status.value, "reason": res.reason,
            "permissions": pipeline.permissions[sid].as_dict(),
            "artifacts": [a.to_json() for a in res.artifacts],
            "plan": [{k: v for k, v in vars(p).items() if v} for p in res.plan],
        }
    return {"format": 1, "pipeline": pipeline.model.name, "dry_run": dry_run,
            "source": result.source.to_json(), "ok": result.ok, "stages": stages}


def review_markdown(pipeline: LoadedPipeline, result: RunResult, dry_run: bool) -> str:
    src = result.source
    title = "Dry-run review" if dry_run else "Release run"
    lines = [f"# {title}: {pipeline.model.name} {src.version}", "",
             f"- commit `{src.commit}`" + (f", tag `{src.tag}`" if src.tag else ""),
             f"- SOURCE_DATE_EPOCH `{src.epoch}`", ""]
    if src.dirty:
        lines += ["**Built with --allow-dirty from a working tree with uncommitted changes.**",
                  ""]
    lines += ["## Stages", "", summary_markdown(result)]
    arts = [a for r in result.results.values() for a in r.artifacts]
    if arts:
        lines += ["## Artifacts", "", "| artifact | stage | size | sha256 |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| `{a.name}` | {a.stage} | {a.size} | `{a.sha256}` |" for a in arts]
        lines.append("")
    planned = [(sid, r) for sid, r in result.results.items() if r.plan]
    if planned:
        lines += ["## External effects (not performed)", ""]
        for sid, res in planned:
            perms = pipeline.permissions[sid].describe()
            lines += [f"### `{sid}` ({res.kind}, permissions: {perms})", ""]
            lines += [f"1. {format_step(step, '`')}" for step in res.plan]
            lines.append("")
    return "\n".join(lines)


def write_report(path: Path, pipeline: LoadedPipeline, result: RunResult, dry_run: bool) -> None:
    if path.suffix == ".json":
        text = json.dumps(review_data(pipeline, result, dry_run), indent=2) + "\n"
    else:
        text = review_markdown(pipeline, result, dry_run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
