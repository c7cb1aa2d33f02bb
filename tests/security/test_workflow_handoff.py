"""Every hand-off between jobs is bound by a digest that travels through GitHub.

A job gets its needs' outputs from the artifact store, which an attacker may be able to
write (a stolen token, a compromised earlier job). ``release run --expect-manifest
NEED=SHA256`` checks each need's manifest against the digest its job reported as the job
output ``manifest``. Checked here for every job of the generated workflow, sandboxed or
not: every need's digest is expected, it comes from that need's job, and that job reports
the digest of the very manifest it uploads. ``sandbox: true`` stages (run inside
geomys/sandboxed-step, which cannot write step outputs) sit at the root, in the middle and
after another sandboxed stage.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.pipeline.load import load, load_text
from release.workflows.facts import stage_facts
from release.workflows.generate import Options, generate
from tests.workflows.samples import committed_pipelines

REPO = Path(__file__).resolve().parents[2]

_HEAD = 'version: 1\nname: shape\nsource:\n  tags: "v*"\nstages:\n'


def _command(sid: str, needs: list[str] | None = None, sandbox: bool = False) -> str:
    text = (f"  {sid}:\n    kind: command\n"
            f"    run: [\"sh\", \"-c\", \"printf x > {{out}}/{sid}\"]\n"
            f"    outputs: [\"{sid}\"]\n")
    if needs:
        text += f"    needs: [{', '.join(needs)}]\n"
    return text + ("    sandbox: true\n" if sandbox else "")


SHAPES = {
    # the red team's repro: sandboxed tests at the root, then checksums, sign, publish
    "sandboxed-root": _HEAD + _command("tests", sandbox=True) + """\
  checksums:
    kind: checksums
    needs: [tests]
  sign:
    kind: sign
    needs: [checksums]
  publish:
    kind: github-release
    needs: [tests, checksums, sign]
""",
    # a sandboxed stage between two unsandboxed ones
    "sandboxed-middle": _HEAD + _command("tool") + _command("tests", ["tool"], sandbox=True)
    + """\
  sums:
    kind: checksums
    needs: [tool, tests]
""",
    # a sandboxed stage consuming another, and one consuming both kinds
    "sandboxed-chain": _HEAD + _command("tool") + _command("a", sandbox=True)
    + _command("b", ["a"], sandbox=True) + _command("c", ["tool", "a", "b"], sandbox=True)
    + """\
  sums:
    kind: checksums
    needs: [b, c]
  sign:
    kind: sign
    needs: [sums]
""",
    # a build matrix across Linux and macOS runners, handed to Linux jobs
    "matrix-runners": _HEAD + """\
  cli:
    kind: command
    matrix:
      os: [linux, darwin, windows]
      include:
        - {os: linux, runner: ubuntu-24.04}
        - {os: darwin, runner: macos-15}
        - {os: windows, runner: ubuntu-24.04}
    runs-on: "{matrix.runner}"
    run: ["sh", "-c", "printf x > {out}/cli-{matrix.os}"]
    outputs: ["cli-{matrix.os}"]
""" + _command("tests", ["cli"], sandbox=True) + """\
  sums:
    kind: checksums
    needs: [cli, tests]
  sign:
    kind: sign
    needs: [sums]
""",
}

_EXPR = re.compile(r"\$\{\{ needs\.([\w-]+)\.outputs\.manifest-([\w-]+) \}\}")
_STEP_EXPR = re.compile(r"\$\{\{ steps\.([\w-]+)\.outputs\.manifest-([\w-]+) \}\}")


def _cases() -> list[Any]:
    cases = [pytest.param(path, id=path.relative_to(REPO).as_posix())
             for path in committed_pipelines()]
    return cases + [pytest.param(name, id=name) for name in SHAPES]


def _generated(case: Path | str) -> tuple[dict[str, Any], dict[str, tuple[str, ...]],
                                           set[str]]:
    """The workflow's jobs, each stage's needs, and the sandboxed stages."""
    if isinstance(case, Path):
        loaded = load(case)
        name = case.relative_to(REPO).as_posix()
    else:
        name = f"pipelines/{case}.yaml"
        loaded = load_text(SHAPES[case], name, Path(name))
    facts = stage_facts(loaded)
    jobs: dict[str, Any] = yaml.safe_load(generate(loaded, Options(name)))["jobs"]
    return (jobs, {s: f.needs for s, f in facts.items()},
            {s for s, f in facts.items() if f.sandboxed})


def _run_steps(job: dict[str, Any]) -> list[tuple[int, dict[str, Any], list[str]]]:
    """The steps running ``release run``, with their argv, env variables substituted."""
    found = []
    for index, step in enumerate(job["steps"]):
        script = step.get("run") or step.get("with", {}).get("run", "")
        if not script.startswith("release run "):
            continue
        for name, value in step.get("env", {}).items():
            script = script.replace("${" + name + "}", value)
        found.append((index, step, shlex.split(script)))
    return found


def _run_step(job: dict[str, Any]) -> tuple[int, dict[str, Any], list[str]]:
    """The step running the job's own stages (a packed job runs reviews after it)."""
    (run,) = [r for r in _run_steps(job) if r[1]["id"] == "run"]
    return run


def _stages(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--stage"]


def _expected(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--expect-manifest"]
    out = dict(p.split("=", 1) for p in pairs)
    assert len(out) == len(pairs), "a need is expected twice"
    return out


def _check_reports_its_manifest(job: dict[str, Any], stage: str) -> None:
    """The job's ``manifest-<stage>`` output is the sha256 of the manifest it uploads."""
    match = _STEP_EXPR.fullmatch(job["outputs"][f"manifest-{stage}"])
    assert match, job["outputs"]
    assert match[2] == stage
    run_index, run_step, argv = _run_step(job)
    assert stage in _stages(argv), "the step reporting it ran the stage"
    if match[1] == "run":
        # `release run` writes it to $GITHUB_OUTPUT: only outside a sandbox
        assert "uses" not in run_step, "a sandboxed step cannot write step outputs"
        return
    (index,) = [i for i, s in enumerate(job["steps"]) if s.get("id") == match[1]]
    step = job["steps"][index]
    assert "uses" not in step and run_index < index, "the digest is taken after the run"
    upload = next(i for i, s in enumerate(job["steps"])
                  if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert index < upload
    assert f"manifest=_release/out/manifests/{stage}.json\n" in step["run"]
    assert 'sha256sum -- "$manifest"' in step["run"]
    assert f'echo "manifest-{stage}=' in step["run"] and '>> "$GITHUB_OUTPUT"' in step["run"]
    assert "${{" not in step["run"] and "env" not in step


@pytest.mark.parametrize("case", _cases())
def test_every_need_of_every_job_is_bound_by_its_reported_digest(case: Path | str) -> None:
    jobs, needs, _ = _generated(case)
    for jid, job in jobs.items():
        run_index, _, run_argv = _run_step(job)
        ran = _stages(run_argv)
        for index, _step, argv in _run_steps(job):
            stages, expected = _stages(argv), _expected(argv)
            outside = {n for s in stages for n in needs[s]} - set(stages)
            assert set(expected) == outside, f"job {jid}: unbound hand-off"
            for need, value in expected.items():
                if index != run_index:
                    # a review packed after the run: bound by the digests the run reported
                    match = _STEP_EXPR.fullmatch(value)
                    assert match, f"job {jid}: {need}={value}"
                    assert match[1] == "run" and match[2] == need and need in ran
                    assert "--dry-run" in argv and index > run_index
                    continue
                match = _EXPR.fullmatch(value)
                assert match, f"job {jid}: {need}={value}"
                producer = match[1]
                assert match[2] == need
                assert producer in job["needs"], f"job {jid}"
                assert need in _stages(_run_step(jobs[producer])[2])
                assert "--report" not in _run_step(jobs[producer])[2], "a review uploads none"
                _check_reports_its_manifest(jobs[producer], need)


@pytest.mark.parametrize("case", list(SHAPES))
def test_sandboxed_jobs_report_their_manifest_and_check_the_digests(case: str) -> None:
    jobs, needs, sandboxed = _generated(case)
    assert sandboxed
    for job in jobs.values():
        (stage, *others) = _stages(_run_step(job)[2])
        if stage not in sandboxed:
            assert not sandboxed & set(others), "a sandboxed stage runs alone"
            continue
        assert not others, "a sandboxed stage runs alone"
        run_index, step, _ = _run_step(job)
        assert step["uses"].startswith("geomys/sandboxed-step@")
        if "outputs" in job:
            _check_reports_its_manifest(job, stage)
        if needs[stage]:
            # the digests reach the sandboxed command line as expressions: a step before
            # it has checked each of them is 64 hex digits (no shell code)
            (check,) = [s for s in job["steps"][:run_index]
                        if s["name"] == "Check the manifest digests of the needs"]
            assert set(_EXPR.findall(" ".join(check["env"].values()))) == set(
                _EXPR.findall(step["with"]["run"]))
            for name in check["env"]:
                assert f'[[ "${{{name}}}" =~ ^[0-9a-f]{{64}}$ ]] ||' in check["run"]


def test_the_committed_release_workflow_binds_every_hand_off() -> None:
    jobs: dict[str, Any] = yaml.safe_load(
        (REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))["jobs"]
    loaded = load(REPO / "pipelines" / "release.yaml")
    for jid, job in jobs.items():
        stages = _stages(_run_step(job)[2])
        outside = {n for s in stages for n in loaded.model.stages[s].needs} - set(stages)
        assert set(_expected(_run_step(job)[2])) == outside, jid
