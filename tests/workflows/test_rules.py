"""The release audit rules on the shapes they must (and must not) catch."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from release.workflows.audit import audit
from tests.conftest import Repo

CHECKOUT = "actions/checkout@df4cb1c069e1874edd31b4311f1884172cec0e10  # v6.0.3"
HEAD = "name: w\non: push\npermissions: {}\n"


def _job(steps: str, permissions: str = "contents: read", extra: str = "") -> str:
    return HEAD + textwrap.dedent(f"""\
        jobs:
          j:
            name: j
            runs-on: ubuntu-24.04
            permissions:
              {permissions}
        """) + textwrap.indent(textwrap.dedent(extra), "    ") + "    steps:\n" + \
        textwrap.indent(textwrap.dedent(steps), "      ")


def _rules(repo: Repo, text: str, files: dict[str, str] | None = None) -> list[str]:
    for name, body in (files or {}).items():
        repo.write(name, body)
    path = repo.write(".github/workflows/w.yml", text)
    return [f.rule for f in audit([path], use_zizmor=False).findings]


CASES = {
    "setup-node v5 with a packageManager": (
        "- uses: actions/setup-node@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v5.0.0\n",
        {"package.json": json.dumps({"packageManager": "npm@10.0.0"})}, ["cache"]),
    "setup-node v5 without a packageManager": (
        "- uses: actions/setup-node@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v5.0.0\n",
        {"package.json": "{}"}, []),
    "setup-node v5 with the cache turned off": (
        "- uses: actions/setup-node@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v5.0.0\n"
        "  with:\n    package-manager-cache: false\n",
        {"package.json": json.dumps({"packageManager": "npm@10.0.0"})}, []),
    "setup-node v4 (no default cache)": (
        "- uses: actions/setup-node@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v4.4.0\n",
        {"package.json": json.dumps({"packageManager": "npm@10.0.0"})}, []),
    "setup-go v3 (no default cache)": (
        "- uses: actions/setup-go@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v3.5.0\n", {}, []),
    "setup-go v5 with cache: false": (
        "- uses: actions/setup-go@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v5.0.0\n"
        "  with:\n    cache: false\n", {}, []),
    "setup-go pinned without a version comment": (
        "- uses: actions/setup-go@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", {}, ["cache"]),
    "setup-uv v6 default": (
        "- uses: astral-sh/setup-uv@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v6.1.0\n", {},
        ["cache"]),
    "docker build with the gha cache": (
        "- uses: docker/build-push-action@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v6.0.0\n"
        "  with:\n    cache-from: type=gha\n", {}, ["cache"]),
    "ruby bundler cache": (
        "- uses: ruby/setup-ruby@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # v1.200.0\n"
        "  with:\n    bundler-cache: true\n", {}, ["cache"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_cache_defaults(case: str, repo: Repo) -> None:
    steps, files, expected = CASES[case]
    assert _rules(repo, _job(steps), files) == expected


def test_write_all_and_default_permissions_in_a_build_job(repo: Repo) -> None:
    build = f"- uses: {CHECKOUT}\n  with:\n    persist-credentials: false\n- run: cargo test\n"
    assert _rules(repo, _job(build, "write-all").replace("permissions:\n      write-all",
                                                         "permissions: write-all")) == [
        # write-all includes id-token: write
        "id-token-outside-environment", "id-token-untrusted", "write-in-build-job"]
    # no permissions anywhere: the repository default, which may write
    no_perms = _job(build).replace("    permissions:\n      contents: read\n", "").replace(
        "permissions: {}\n", "")
    assert _rules(repo, no_perms) == ["top-level-permissions", "write-in-build-job"]
    read_only = _job(build)
    assert _rules(repo, read_only) == []


def test_id_token_with_pull_request_code_or_unlocked_tools(repo: Repo) -> None:
    checkout = f"- uses: {CHECKOUT}\n  with:\n    persist-credentials: false\n"
    approved = "environment: release\n"
    pr = _job(checkout + "- run: echo sign\n", "id-token: write", approved).replace(
        "on: push", "on: pull_request")
    assert _rules(repo, pr) == ["id-token-untrusted"]
    curl = _job("- run: curl -sSf https://example.invalid/install.sh | sh\n", "id-token: write",
                approved)
    assert _rules(repo, curl) == ["id-token-untrusted"]
    locked = _job("- run: |\n    pip install --require-hashes -r requirements.txt\n"
                  "    pip install --no-deps .\n    sigstore sign dist/*\n", "id-token: write",
                  approved)
    assert _rules(repo, locked) == []


SIGN = "- run: sigstore sign dist/SHA256SUMS\n"


def _two_jobs(sign_extra: str = "", gate_extra: str = "environment: release\n",
              gate_needs_sign: bool = False) -> str:
    """A signing job and an approval-gated job, with their order and environments."""
    sign = textwrap.indent(textwrap.dedent(sign_extra), "    ")
    gate = textwrap.indent(textwrap.dedent(gate_extra), "    ")
    return HEAD + "jobs:\n" + (
        "  approve:\n    name: approve\n    runs-on: ubuntu-24.04\n    permissions: {}\n"
        + gate + ("    needs: [sign]\n" if gate_needs_sign else "")
        + "    steps:\n      - run: echo approved\n"
        "  sign:\n    name: sign\n    runs-on: ubuntu-24.04\n"
        "    permissions:\n      id-token: write\n" + sign
        + "    steps:\n" + textwrap.indent(SIGN, "      "))


def test_id_token_needs_its_own_protected_environment(repo: Repo) -> None:
    def messages(text: str) -> list[str]:
        path = repo.write(".github/workflows/w.yml", text)
        return [f.message for f in audit([path], use_zizmor=False).findings
                if f.rule == "id-token-outside-environment"]

    # signing in the environment, after the approval job or on its own: nothing to say
    assert messages(_two_jobs("needs: [approve]\nenvironment: release\n")) == []
    assert messages(_two_jobs("environment:\n  name: signing\n", gate_extra="")) == []
    # the generator's old order: signing first, the approval only for what comes after
    assert messages(_two_jobs(gate_needs_sign=True)) == [
        "job 'sign' can mint an OIDC token outside a protected environment: it does not "
        "wait for 'approve', which runs in an environment, so it can sign before the approval"]
    # after the approval but outside it: a re-run of the signing job is not approved again
    assert messages(_two_jobs("needs: [approve]\n")) == [
        "job 'sign' can mint an OIDC token outside a protected environment: it waits for "
        "'approve', but a re-run of it is not approved again"]
    # no approval anywhere
    assert messages(_two_jobs(gate_extra="")) == [
        "job 'sign' can mint an OIDC token outside a protected environment: no job of the "
        "workflow waits for an approval"]
    # write-all from the top of the workflow includes id-token: write
    inherited = _two_jobs().replace("permissions: {}\n", "permissions: write-all\n", 1)
    inherited = inherited.replace("    permissions:\n      id-token: write\n", "")
    assert messages(inherited) == [
        "job 'sign' can mint an OIDC token outside a protected environment: it does not "
        "wait for 'approve', which runs in an environment, so it can sign before the approval"]
    # a reusable workflow's call cannot take `environment:`: its own jobs are audited
    call = HEAD + textwrap.dedent("""\
        jobs:
          call:
            name: call
            permissions:
              id-token: write
            uses: owner/repo/.github/workflows/x.yml@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        """)
    assert messages(call) == []


def test_release_run_of_a_building_stage_counts_as_a_build(repo: Repo) -> None:
    repo.write("pipelines/p.yaml", textwrap.dedent("""\
        version: 1
        name: p
        stages:
          bin:
            kind: command
            run: ["true"]
            outputs: ["x"]
          sums:
            kind: checksums
            needs: [bin]
        """))
    job = "- run: release run pipelines/p.yaml --stage {} --out out\n"
    assert _rules(repo, _job(job.format("bin"), "contents: write")) == ["write-in-build-job"]
    assert _rules(repo, _job(job.format("sums"), "contents: write")) == []


def test_secrets_inherit_and_workflow_env_secrets(repo: Repo) -> None:
    call = HEAD + textwrap.dedent("""\
        jobs:
          call:
            name: call
            permissions: {}
            uses: owner/repo/.github/workflows/x.yml@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            secrets: inherit
        """)
    assert _rules(repo, call) == ["secret-outside-environment"]
    token_only = _job("- run: gh release list\n  env:\n    GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n")
    assert _rules(repo, token_only) == []
    in_env = _job("- run: ./deploy\n  env:\n    KEY: ${{ secrets.KEY }}\n",
                  extra="environment: production\n")
    assert _rules(repo, in_env) == []


def test_top_level_permissions_must_be_empty(repo: Repo, tmp_path: Path) -> None:
    broad = _job("- run: echo hi\n").replace("permissions: {}\n", "permissions: read-all\n", 1)
    assert _rules(repo, broad) == ["top-level-permissions"]
