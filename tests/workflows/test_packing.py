"""Packing: the stages that hold no credential share jobs, and the jobs still form a DAG.

Random pipelines (hypothesis) mix stages without credentials, ``sandbox: true`` stages,
stages with permissions, keyless signing (reviewed, in an environment), key signing (a
secret, or a key file alone) and stages on other runners (Linux arm, macOS). For each
generated workflow (generation never fails): every unit (a stage's run, review or
dry-run) runs in exactly one job, the jobs' ``needs`` are acyclic, every stage-level need
is met by a job the consumer waits for or earlier in the same job, a job running several
units holds nothing and runs them on a Linux runner they all name, and a stage on macOS
or with a key file runs alone.
"""

from __future__ import annotations

import shlex
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.pipeline.load import load
from release.workflows.facts import runner_of, stage_facts
from release.workflows.generate import Options, generate
from release.workflows.jobs import job_graph
from tests.workflows.samples import REPO, job_set, parse, per_stage, pipeline

_HEAD = 'version: 1\nname: shape\nsource:\n  tags: "v*"\nstages:\n'

#: kind of stage -> its YAML (after the id line), without needs
_KINDS = {
    "plain": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
             '    outputs: ["f"]\n',
    "sandboxed": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
                 '    outputs: ["f"]\n    sandbox: true\n',
    "writes": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
              '    outputs: ["f"]\n    permissions:\n      contents: write\n',
    "reads": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
             '    outputs: ["f"]\n    permissions:\n      contents: read\n',
    "oidc": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
            '    outputs: ["f"]\n    permissions:\n      id-token: write\n',
    "sums": "    kind: checksums\n",
    "keyless": "    kind: sign\n",
    "keysign": "    kind: sign\n    backend: key\n    key: keys/signing.pem\n"
               "    passphrase-env: SIGNING_PASSPHRASE\n",
    # a key file is a credential even when no passphrase variable names it
    "keyfile": "    kind: sign\n    backend: key\n    key: keys/signing.pem\n",
    "arm": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
           '    outputs: ["f"]\n    runs-on: ubuntu-24.04-arm\n',
    "arm-sums": "    kind: checksums\n    runs-on: ubuntu-24.04-arm\n",
    "mac": '    kind: command\n    run: ["sh", "-c", "printf x > {out}/f"]\n'
           '    outputs: ["f"]\n    runs-on: macos-15\n',
}
#: kinds that need at least one need (they sign or sum their inputs)
_NEED_INPUTS = {"sums", "keyless", "keysign", "keyfile", "arm-sums"}


@st.composite
def pipelines(draw: st.DrawFn) -> str:
    count = draw(st.integers(min_value=1, max_value=9))
    text = _HEAD
    for i in range(count):
        kind = draw(st.sampled_from(sorted(_KINDS)))
        earlier = [f"s{j}" for j in range(i)]
        needs = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)
                     if earlier else st.just([]))
        if kind in _NEED_INPUTS and not needs:
            kind = "plain"
        text += f"  s{i}:\n" + _KINDS[kind]
        if needs:
            text += f"    needs: [{', '.join(needs)}]\n"
    if draw(st.booleans()):
        text = per_stage(text)
    return text


def _run_steps(job: dict[str, Any]) -> list[tuple[int, list[str]]]:
    found = []
    for index, step in enumerate(job["steps"]):
        script = step.get("run") or step.get("with", {}).get("run", "")
        if script.startswith("release run "):
            found.append((index, shlex.split(script)))
    return found


def _units(job: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(mode, stage, step index) of every unit the job runs."""
    out = []
    for index, argv in _run_steps(job):
        stages = [argv[i + 1] for i, a in enumerate(argv) if a == "--stage"]
        mode = ("review" if "--report" in argv else "dry-run" if "--dry-run" in argv
                else "release")
        out += [(mode, s, index) for s in stages]
    return out


def _ancestors(jobs: dict[str, Any], jid: str) -> set[str]:
    seen: set[str] = set()
    todo = list(jobs[jid].get("needs", []))
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo += jobs[need].get("needs", [])
    return seen


def check_workflow(text: str) -> dict[str, Any]:
    loaded = pipeline(text)
    facts = stage_facts(loaded)
    wf = parse(generate(loaded, Options("pipelines/sample.yaml")))
    jobs: dict[str, Any] = wf["jobs"]
    for jid in jobs:
        assert jid not in _ancestors(jobs, jid), f"the jobs' needs form a cycle at {jid}"
    for event, modes in (("push", ("release", "review")), ("workflow_dispatch", ("dry-run",))):
        where: dict[tuple[str, str], tuple[str, int]] = {}
        for jid, job in job_set(wf, event).items():
            units = _units(job)
            assert units, jid
            for mode, stage, index in units:
                assert mode in modes and (mode, stage) not in where, (jid, mode, stage)
                where[mode, stage] = (jid, index)
            if len(units) > 1:
                # a packed job holds nothing: no permission, secret, token or environment
                assert job["permissions"] == {}, jid
                assert "environment" not in job and "secrets." not in str(job), jid
                assert "github.token" not in str(job), jid
                for mode, stage, _ in units:
                    f = facts[stage]
                    assert not f.sandboxed and not f.key, stage
                    # without bubblewrap nothing would keep packed stages apart
                    assert f.system == "linux" and f.runs_on == job["runs-on"], stage
                    if mode == "release":
                        assert not (f.permissions or f.secrets or f.token), stage
                    else:  # a dry-run reads no secret: its job would hold only these
                        assert not f.read_only, stage
            elif units[0][0] == "release":
                # alone: exactly the stage's permissions
                assert job["permissions"] == facts[units[0][1]].permissions.as_dict(), jid
        for (mode, stage), (jid, index) in where.items():
            consumer = mode if mode != "review" else "release"
            for need in facts[stage].needs:
                if (consumer, need) not in where:
                    assert mode == "dry-run", (stage, need)  # only planned in a dry-run
                    continue
                njid, nindex = where[consumer, need]
                # the need runs in an earlier job it waits for, or earlier in the same job
                assert njid in _ancestors(jobs, jid) or (njid == jid and nindex <= index), (
                    mode, stage, need)
            if mode == "release" and facts[stage].reviewed:
                rjid, _ = where["review", stage]
                assert rjid in _ancestors(jobs, jid), f"{stage} runs before its review"
    return wf


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_random_pipelines_pack_into_an_acyclic_job_graph_that_respects_every_need(
        text: str) -> None:
    check_workflow(text)


def test_packing_across_runners_never_closes_a_cycle_of_jobs() -> None:
    """s2 (x64) needs s0 (arm), s3 (arm) needs s1 (x64): s2 joining s1's job and s3
    joining s0's would make each of the two jobs need the other."""
    text = (_HEAD + "  s0:\n" + _KINDS["arm"] + "  s1:\n" + _KINDS["plain"]
            + "  s2:\n" + _KINDS["plain"] + "    needs: [s0]\n"
            + "  s3:\n" + _KINDS["arm"] + "    needs: [s1]\n")
    jobs = job_set(check_workflow(text), "push")
    assert sorted(sorted(u[1] for u in _units(job)) for job in jobs.values()) == [
        ["s0"], ["s1", "s2"], ["s3"]]


def test_a_credential_between_two_plain_stages_keeps_them_in_separate_jobs() -> None:
    """a -> b (a credential) -> c: a and c in one job would come before and after b's."""
    text = (_HEAD + "  a:\n" + _KINDS["plain"] + "  b:\n" + _KINDS["writes"]
            + "    needs: [a]\n" + "  c:\n" + _KINDS["plain"] + "    needs: [b]\n"
            + "  d:\n" + _KINDS["plain"] + "    needs: [a]\n")
    jobs = job_set(check_workflow(text), "push")
    assert {j: [u[1] for u in _units(job)] for j, job in jobs.items()} == {
        "packed": ["a", "d"], "b": ["b"], "c": ["c"]}
    assert jobs["b"]["needs"] == ["packed"] and jobs["c"]["needs"] == ["b"]


def test_sandboxed_stages_stay_apart_and_plain_ones_join_across_them() -> None:
    text = (_HEAD + "  a:\n" + _KINDS["plain"] + "  t:\n" + _KINDS["sandboxed"]
            + "    needs: [a]\n" + "  b:\n" + _KINDS["plain"] + "  c:\n" + _KINDS["sums"]
            + "    needs: [t, b]\n")
    jobs = job_set(check_workflow(text), "push")
    assert {j: [u[1] for u in _units(job)] for j, job in jobs.items()} == {
        "packed": ["a", "b"], "t": ["t"], "c": ["c"]}


def test_stages_on_another_runner_stay_apart() -> None:
    loaded = pipeline(_HEAD + "  a:\n" + _KINDS["plain"] + "  b:\n" + _KINDS["plain"]
                      + "  c:\n" + _KINDS["plain"] + "    needs: [a, b]\n")
    facts = stage_facts(loaded)
    assert runner_of(facts["a"]) == "ubuntu-24.04"
    graph = job_graph(facts, "push", lambda f: "macos-15" if f.stage == "b" else runner_of(f))
    assert [(j.id, [u.stage for u in j.units], j.runner, j.needs) for j in graph] == [
        ("b", ["b"], "macos-15", ()),
        ("packed", ["a", "c"], "ubuntu-24.04", ("b",)),
    ]


def test_this_projects_release_takes_four_jobs_on_a_tag_push_and_one_on_dispatch() -> None:
    loaded = load(REPO / "pipelines" / "release.yaml")
    wf = parse(generate(loaded, Options("pipelines/release.yaml")))

    def longest(jobs: dict[str, Any]) -> int:
        depth: dict[str, int] = {}

        def walk(jid: str) -> int:
            if jid not in depth:
                depth[jid] = 1 + max((walk(n) for n in jobs[jid].get("needs", [])), default=0)
            return depth[jid]
        return max(walk(j) for j in jobs)

    push, dispatch = job_set(wf, "push"), job_set(wf, "workflow_dispatch")
    assert longest(push) == 4 and len(dispatch) == 1
    assert [j for j in push if len(_units(push[j])) > 1] == ["packed"]
    assert [(m, s) for m, s, _ in _units(push["packed"])] == [
        ("release", "dist"), ("release", "pyz"), ("release", "sbom"), ("release", "checksums"),
        ("review", "sign"), ("review", "provenance"), ("review", "pypi")]
    per = parse(generate(pipeline(per_stage((REPO / "pipelines" / "release.yaml").read_text())),
                         Options("pipelines/release.yaml")))
    assert longest(job_set(per, "push")) == 7 and len(job_set(per, "workflow_dispatch")) == 7


def test_plan_markdown_shows_which_stages_share_a_job(cli: Any) -> None:
    result = cli("plan", REPO / "pipelines" / "release.yaml", "--format", "markdown")
    assert result.code == 0, result.err
    text = result.out
    assert "## Jobs of the generated workflow" in text
    assert "tag push: 6 job(s), 4 on the longest chain" in text
    assert ("| `packed` | dist, pyz, sbom, checksums, review-sign, review-provenance, "
            "review-pypi | - |") in text
    assert "| `publish` | publish | packed, sign, provenance, review-publish |" in text
    assert "dispatch dry-run: 1 job(s), 1 on the longest chain" in text
    per = pipeline(per_stage((REPO / "pipelines" / "release.yaml").read_text()))
    from release.report.plan import jobs_data, render_markdown

    data = {"pipeline": "p", "stages": [], "jobs": jobs_data(per)}
    assert "tag push: 12 job(s), 7 on the longest chain" in render_markdown(data)
    assert "dispatch dry-run: 7 job(s), 4 on the longest chain" in render_markdown(data)
    # the default table stays quick: it does not build the job graph
    table = cli("plan", REPO / "pipelines" / "release.yaml")
    assert table.code == 0 and "packed" not in table.out


def test_reviews_join_the_job_that_builds_what_they_review_and_open_none() -> None:
    """Two OIDC stages at the root: their reviews need nothing built, so they stay in jobs
    of their own rather than forming a job that runs no stage."""
    text = (_HEAD + "  a:\n" + _KINDS["oidc"] + "  b:\n" + _KINDS["oidc"]
            + "  c:\n" + _KINDS["plain"] + "  d:\n" + _KINDS["keyless"] + "    needs: [c]\n")
    jobs = job_set(check_workflow(text), "push")
    assert {j: [u[:2] for u in _units(job)] for j, job in jobs.items()} == {
        "review-a": [("review", "a")], "a": [("release", "a")],
        "review-b": [("review", "b")], "b": [("release", "b")],
        "packed": [("release", "c"), ("review", "d")], "d": [("release", "d")]}


def test_a_stage_named_like_the_packed_job_is_refused_with_its_location() -> None:
    from release.errors import PipelineError

    text = (_HEAD + "  packed:\n" + _KINDS["writes"] + "  b:\n" + _KINDS["plain"]
            + "  c:\n" + _KINDS["plain"])
    try:
        generate(pipeline(text), Options("pipelines/sample.yaml"))
    except PipelineError as exc:
        assert "'packed' would be generated twice" in exc.message
        assert "packed" in (exc.hint or "")
        assert str(exc.location) == "pipelines/sample.yaml:6:3"
    else:
        raise AssertionError("the clash was not refused")


def test_an_unknown_jobs_value_names_its_place_and_the_choices() -> None:
    from release.errors import PipelineError

    try:
        pipeline(_HEAD.replace("stages:\n", "jobs: perstage\nstages:\n") + "  a:\n"
                 + _KINDS["plain"])
    except PipelineError as exc:
        text = exc.render()
        assert "pipelines/sample.yaml:5:7" in text
        assert "'packed' or 'per-stage'" in text and "'perstage'" in text
    else:
        raise AssertionError("jobs: perstage was accepted")
