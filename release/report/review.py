"""The review report of a run: what was built (with digests) and what would be done.

A reviewer reads it in a pull request or a job summary before approving a release; the
JSON form is what ``release run --approved-plan`` checks a later run against, so the
Markdown shows every fact that approval binds (:mod:`release.engine.binding`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from release.engine.approval import review_fields
from release.engine.binding import RunBinding, step_json
from release.engine.results import RunResult
from release.pipeline.load import LoadedPipeline
from release.report.console import format_step, summary_markdown


def review_data(pipeline: LoadedPipeline, result: RunResult, dry_run: bool,
                binding: RunBinding | None) -> dict[str, Any]:
    """review.json; without a binding it records no approvable facts (an approval refuses it)."""
    stages: dict[str, Any] = {}
    for sid, res in result.results.items():
        stages[sid] = {
            "kind": res.kind, "status": res.status.value, "reason": res.reason,
            "permissions": pipeline.permissions[sid].as_dict(),
            "artifacts": [a.to_json() for a in res.artifacts],
            "plan": [step_json(p) for p in res.plan],
        }
    head: dict[str, Any] = {"pipeline": {"name": pipeline.model.name}}
    if binding is not None:
        head = {**review_fields(binding),
                "pipeline": {"name": pipeline.model.name, "file": binding.pipeline_file,
                             "sha256": binding.pipeline_sha256}}
    return {**head, "dry_run": dry_run, "source": result.source.to_json(), "ok": result.ok,
            "stages": stages}


def binding_markdown(binding: RunBinding, dry_run: bool = True) -> list[str]:
    """The facts an approval of this report binds, as the reviewer must check them."""
    def code(value: str | None) -> str:
        return f"`{value}`" if value else "(none)"

    rows = [("pipeline file", f"{code(binding.pipeline_file)}, sha256 "
                              f"{code(binding.pipeline_sha256)}"),
            ("repository", code(binding.repository)),
            ("folder released", code(binding.path) + ("" if binding.path != "." else
                                                       " (the whole repository)")),
            ("tag", code(binding.tag)),
            ("version", code(binding.version)),
            ("commit", code(binding.commit)),
            ("working tree", "**dirty (--allow-dirty): cannot be approved**" if binding.dirty
             else "clean" + (" (--allow-dirty: cannot be approved)"
                             if binding.allow_dirty else "")),
            ("sandbox", "on: builds ran network-isolated" if binding.sandbox
             else "**off (--no-sandbox): builds ran with the network and the user's files**")]
    if not dry_run:
        lines = ["## What this run was", "", "| fact | value |", "| --- | --- |"]
    else:
        lines = ["## What approving this review binds", "",
                 "`release run PIPELINE --approved-plan review.json` compares these facts and "
                 "the steps below before any stage runs, and every artifact's digest before "
                 "each stage that acts on the world; it refuses any difference and names it.",
                 "", "| fact | approved value |", "| --- | --- |"]
    if binding.skipped_here:
        rows.append(("not built on this host",
                     "**" + ", ".join(f"`{s}`" for s in binding.skipped_here) + "**: "
                     "approving covers none of their artifacts; an approved run skips them "
                     "and every stage that needs them"))
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines.append("")
    for sid, plan in binding.stages.items():
        lines += [f"### `{sid}` ({plan.kind}), before any artifact exists", ""]
        lines += [f"1. {format_step(step, '`')}" for step in plan.steps]
        lines.append("")
    return lines


def review_markdown(pipeline: LoadedPipeline, result: RunResult, dry_run: bool,
                    binding: RunBinding | None) -> str:
    src = result.source
    title = "Dry-run review" if dry_run else "Release run"
    lines = [f"# {title}: {pipeline.model.name} {src.version}", "",
             f"- commit `{src.commit}`" + (f", tag `{src.tag}`" if src.tag else ""),
             f"- SOURCE_DATE_EPOCH `{src.epoch}`", ""]
    if src.path != ".":
        lines[-1:] = [f"- folder `{src.path}` of the repository, alone", ""]
    if src.dirty:
        lines += ["**Built with --allow-dirty from a working tree with uncommitted changes.**",
                  ""]
    if binding is not None:
        lines += binding_markdown(binding, dry_run)
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


def write_report(path: Path, pipeline: LoadedPipeline, result: RunResult, dry_run: bool,
                 binding: RunBinding | None) -> None:
    if path.suffix == ".json":
        text = json.dumps(review_data(pipeline, result, dry_run, binding), indent=2) + "\n"
    else:
        text = review_markdown(pipeline, result, dry_run, binding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
