"""``release audit``: each rule fires on its bad workflow, nothing fires on generated ones."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from release.pipeline.load import load
from release.workflows.audit import audit, rules
from release.workflows.generate import Options, generate
from tests.conftest import CliResult, Repo
from tests.workflows.samples import FULL, LOCAL, REPO

BAD = Path(__file__).parent / "bad"
RULE_IDS = [r.id for r in rules()]


def test_there_is_one_bad_workflow_per_rule() -> None:
    assert sorted(p.stem for p in BAD.glob("*.yml")) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule", RULE_IDS)
def test_each_rule_fires_on_its_bad_workflow_and_no_other_rule_does(rule: str) -> None:
    result = audit([BAD / f"{rule}.yml"], use_zizmor=False)
    assert {f.rule for f in result.findings} == {rule}
    for f in result.findings:
        assert f.line and f.line >= 1 and f.why and f.fix
        assert f.url and f.url.endswith(f"#{rule}")


def test_findings_point_at_the_offending_line() -> None:
    by_rule = {}
    for path in BAD.glob("*.yml"):
        lines = path.read_text().splitlines()
        for f in audit([path], use_zizmor=False).findings:
            by_rule.setdefault(f.rule, []).append(lines[(f.line or 1) - 1].strip())
    assert by_rule["unpinned-uses"] == ["- uses: actions/checkout@v6",
                                        "- uses: docker://alpine:3.20"]
    assert by_rule["cache"] == [
        "- uses: actions/setup-go@7a3fe6cf4cb3a834922a1244abfce67bcef6a0c5  # v6.2.0",
        "cache: pip",
        "- uses: actions/cache@55cc8345863c7cc4c66a329aec7e433d2d1c52a9  # v6.1.0"]
    assert by_rule["dangerous-trigger"] == ["workflow_run:"]
    assert by_rule["id-token-untrusted"] == ["id-token: write"]
    assert by_rule["id-token-outside-environment"] == ["id-token: write"]
    assert by_rule["secret-outside-environment"] == ["DEPLOY_KEY: ${{ secrets.DEPLOY_KEY }}"]
    assert by_rule["release-workflow-drift"] == ["timeout-minutes: 90"]


def test_zizmor_runs_and_its_findings_are_reported(cli: Callable[..., CliResult]) -> None:
    result = cli("audit", BAD / "unpinned-uses.yml", "--format", "json")
    assert result.code == 1
    data = json.loads(result.out)
    rules_seen = {f["rule"] for f in data["findings"]}
    assert {"unpinned-uses", "zizmor/unpinned-uses", "zizmor/unpinned-images"} <= rules_seen
    zizmor = [f for f in data["findings"] if f["source"] == "zizmor"]
    assert all(f["url"].startswith("https://docs.zizmor.sh/") for f in zizmor)


@pytest.mark.parametrize("sample", [FULL, LOCAL], ids=["full", "local"])
def test_nothing_on_generated_workflows(sample: str, repo: Repo,
                                        cli: Callable[..., CliResult]) -> None:
    repo.write("pipelines/sample.yaml", sample)
    text = generate(load(repo.path / "pipelines/sample.yaml"), Options("pipelines/sample.yaml"))
    repo.write(".github/workflows/release.yml", text)
    result = cli("audit", cwd=repo.path)
    assert (result.code, result.out) == (0, "0 findings in 1 file\n"), result.out
    # and once the pipeline changes, the committed workflow has drifted
    repo.write("pipelines/sample.yaml", sample.replace('"v*"', '"release-*"'))
    drift = cli("audit", "--format", "json", cwd=repo.path)
    assert drift.code == 1
    assert [f["rule"] for f in json.loads(drift.out)["findings"]] == ["release-workflow-drift"]


def test_this_projects_workflows_pass_the_audit(cli: Callable[..., CliResult]) -> None:
    result = cli("audit", REPO / ".github" / "workflows")
    assert result.code == 0, result.out
    assert re.fullmatch(r"0 findings in \d+ files?\n", result.out)


def test_text_output_names_file_line_rule_why_and_fix(cli: Callable[..., CliResult]) -> None:
    result = cli("audit", BAD / "persist-credentials.yml", cwd=BAD)
    assert result.code == 1
    lines = result.out.splitlines()
    first = next(i for i, line in enumerate(lines) if "[persist-credentials]" in line)
    assert lines[first].startswith("persist-credentials.yml:13:15: medium [persist-credentials]")
    assert lines[first + 1].startswith("  why: checkout writes the job's token")
    assert lines[first + 2].startswith("  fix: add `with: {persist-credentials: false}`")


def test_severity_threshold(cli: Callable[..., CliResult]) -> None:
    # persist-credentials is medium; zizmor's artipacked there is medium too
    high = cli("audit", BAD / "persist-credentials.yml", "--severity", "high")
    assert (high.code, high.out) == (0, "0 findings in 1 file\n")
    medium = cli("audit", BAD / "persist-credentials.yml", "--severity", "medium",
                 "--format", "json")
    assert medium.code == 1
    assert {f["severity"] for f in json.loads(medium.out)["findings"]} == {"medium"}


def test_sarif_output(cli: Callable[..., CliResult]) -> None:
    result = cli("audit", BAD / "cache.yml", BAD / "unpinned-uses.yml", "--format", "sarif")
    assert result.code == 1
    sarif = json.loads(result.out)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    descriptors = run["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors[:len(RULE_IDS)]] == RULE_IDS
    assert all(d["helpUri"].endswith(f"audit.md#{d['id']}") for d in descriptors[:len(RULE_IDS)])
    for res in run["results"]:
        assert descriptors[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
    assert {"cache", "unpinned-uses", "zizmor/unpinned-uses"} <= {
        r["ruleId"] for r in run["results"]}


def test_bad_input_is_an_error_with_a_position(tmp_path: Path,
                                               cli: Callable[..., CliResult]) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a: [\n")
    result = cli("audit", broken)
    assert result.code == 2
    assert re.search(r"broken\.yml:\d+:\d+: error: YAML syntax error", result.err)
    missing = cli("audit", tmp_path / "nowhere")
    assert missing.code == 2 and "no such file or directory" in missing.err


def test_docs_have_a_section_per_rule() -> None:
    text = (REPO / "docs" / "audit.md").read_text()
    headings = re.findall(r"^## `?([a-z-]+)`?\s*$", text, re.MULTILINE)
    assert headings == RULE_IDS
    for rule in rules():
        section = text.split(f"## {rule.id}", 1)[1].split("\n## ", 1)[0]
        for part in (f"**Severity:** {rule.severity}\n", "**Why:**", "**How to fix:**"):
            assert part in section, (rule.id, part)


def test_a_workflow_zizmor_cannot_load_is_an_error_not_a_silent_skip(
        tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    odd = tmp_path / "odd.yml"
    odd.write_text("name: x\non: push\npermissions: {}\njobs:\n  a:\n    name: a\n"
                   "    runs-on: ubuntu-24.04\n    permissions: {}\n    stepz: []\n")
    result = cli("audit", odd, REPO / ".github" / "workflows" / "ci.yml")
    assert result.code == 2
    assert "failed to load" in result.err and "odd.yml" in result.err
    assert "'stepz' was unexpected" in result.err
