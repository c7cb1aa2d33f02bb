"""Our audit rules, in a fixed order; each has a stable id and a section in docs/audit.md."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from release.workflows import detect
from release.workflows.document import Workflow
from release.workflows.findings import Hit, Rule, Severity
from release.workflows.permission_rules import (
    id_token_outside_environment,
    id_token_untrusted,
    top_level_permissions,
    write_in_build_job,
)
from release.yamlsource import YamlPath

Check = Callable[[Workflow], Iterator[Hit]]
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SECRET = re.compile(r"secrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[)")
_CACHE_ACTIONS = ("actions/cache", "swatinem/rust-cache", "mozilla-actions/sccache-action",
                  "hendrikmuhs/ccache-action")
_OFF = (False, "false", "", None)


def dangerous_triggers(wf: Workflow) -> Iterator[Hit]:
    for event in ("pull_request_target", "workflow_run"):
        if event in wf.triggers():
            yield Hit((wf.on_key, event), f"triggered by {event}, which runs with the base "
                      "repository's secrets and a write token on events outsiders cause",
                      key=True)


def caches(wf: Workflow) -> Iterator[Hit]:
    for job in wf.jobs():
        for step in wf.steps(job):
            action, inputs = step.action, step.inputs()
            where = (*step.path, "uses")
            if action.startswith(_CACHE_ACTIONS):
                yield Hit(where, f"{action} restores and saves a cache")
                continue
            for name in ("cache", "bundler-cache", "enable-cache"):
                if name in inputs and inputs[name] not in _OFF:
                    yield Hit((*step.path, "with", name),
                              f"{action} is asked to cache (`{name}: {inputs[name]}`)")
            for name in ("cache-from", "cache-to"):
                if "type=gha" in str(inputs.get(name, "")):
                    yield Hit((*step.path, "with", name), f"{action} uses the Actions cache")
            default = _default_cache(wf, step.action, inputs, detect.major_version(wf, step))
            if default:
                yield Hit(where, default)


def _default_cache(wf: Workflow, action: str, inputs: dict[str, Any],
                   major: int | None) -> str | None:
    """Why an action caches although no input asked for it (None when it does not)."""
    if action == "actions/setup-go" and (major is None or major >= 4) and "cache" not in inputs:
        return "actions/setup-go v4 and later cache by default; `cache:` is not set to false"
    if (action == "astral-sh/setup-uv" and (major is None or major >= 6)
            and "enable-cache" not in inputs):
        return ("astral-sh/setup-uv v6 and later cache on GitHub-hosted runners by default "
                "(enable-cache: auto)")
    if (action == "actions/setup-node" and (major is None or major >= 5)
            and "cache" not in inputs and inputs.get("package-manager-cache", True) not in _OFF
            and detect.declares_package_manager(wf) is not False):
        return ("actions/setup-node v5 and later cache automatically when package.json "
                "declares a packageManager; `package-manager-cache:` is not false")
    return None


def unpinned_uses(wf: Workflow) -> Iterator[Hit]:
    for job, data in wf.jobs().items():
        targets: list[tuple[YamlPath, str | None]] = []
        if isinstance(data.get("uses"), str):
            targets.append((("jobs", job, "uses"), data["uses"]))
        targets += [((*s.path, "uses"), s.uses) for s in wf.steps(job) if s.uses]
        for path, uses in targets:
            assert uses is not None
            if uses.startswith("./"):
                continue
            if uses.startswith("docker://"):
                if "@sha256:" not in uses:
                    yield Hit(path, f"{uses} is not pinned to an image digest")
                continue
            ref = uses.partition("@")[2]
            if not _SHA.match(ref):
                yield Hit(path, f"{uses} is not pinned to a full commit SHA")


def persist_credentials(wf: Workflow) -> Iterator[Hit]:
    for job in wf.jobs():
        for step in wf.steps(job):
            if step.action == "actions/checkout" and \
                    step.inputs().get("persist-credentials") not in (False, "false"):
                yield Hit((*step.path, "uses"), "actions/checkout leaves the job's token in "
                          ".git/config (persist-credentials is not false)")


def secrets_outside_environment(wf: Workflow) -> Iterator[Hit]:
    workflow_env = list(_secret_refs(wf.data.get("env"), ("env",)))
    for job, data in wf.jobs().items():
        if data.get("environment"):
            continue
        refs = list(_secret_refs(data, ("jobs", job)))
        if data.get("secrets") is not None:
            refs.append((("jobs", job, "secrets"), "secrets passed to a reusable workflow"))
        for path, name in [*refs, *workflow_env][:1]:
            yield Hit(path, f"job {job!r} uses {name} without a protected environment")


def release_workflow_drift(wf: Workflow) -> Iterator[Hit]:
    from release.errors import ReleaseError
    from release.pipeline.load import load
    from release.workflows.generate import generate, read_marker

    options = read_marker(wf.text)
    if options is None:
        return
    if wf.root is None:
        yield Hit((), "generated release workflow outside a repository: cannot find "
                  f"its pipeline {options.pipeline}")
        return
    try:
        expected = generate(load(wf.root / options.pipeline), options)
    except ReleaseError as exc:
        yield Hit((), f"cannot regenerate from {options.pipeline}: {exc.message}")
        return
    if expected != wf.text:
        old, new = wf.text.splitlines(), expected.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
                    min(len(old), len(new)))
        yield Hit((), f"differs from what {options.pipeline} generates, first at line "
                  f"{line + 1}: committed {_quote(old, line)}, generated {_quote(new, line)}",
                  line=line + 1)


RULES: tuple[tuple[Rule, Check], ...] = (
    (Rule("dangerous-trigger", Severity.HIGH,
          "pull_request_target or workflow_run trigger",
          "these events run trusted workflow code with secrets and a write token in response "
          "to things outsiders do, a classic route to a poisoned release",
          "use pull_request (read-only, no secrets) and move privileged work to a separate "
          "workflow triggered by push or release"), dangerous_triggers),
    (Rule("cache", Severity.HIGH,
          "a cache is restored or saved (actions/cache, setup-* cache inputs or defaults)",
          "any job, even a read-only one, can write the cache, and a later release job that "
          "restores it runs the poisoned content",
          "remove the cache action; set `cache: false` (setup-go), `package-manager-cache: "
          "false` (setup-node), `enable-cache: false` (setup-uv), or drop `cache:`"), caches),
    (Rule("top-level-permissions", Severity.MEDIUM,
          "top-level permissions missing or not empty",
          "without `permissions: {}` at the top every job inherits a token broader than it "
          "needs, including jobs added later",
          "write `permissions: {}` at the top and grant each job what it needs"),
     top_level_permissions),
    (Rule("write-in-build-job", Severity.HIGH,
          "write permissions in a job that builds or runs tests",
          "builds and tests run code nobody reviewed line by line (dependencies, build "
          "scripts); with a write token in the job, that code can push or publish",
          "split the job: build read-only, upload the artifacts, and publish from a job "
          "that only downloads them"), write_in_build_job),
    (Rule("id-token-untrusted", Severity.HIGH,
          "id-token: write in a job that runs untrusted code",
          "the OIDC token proves the workflow's identity to signers and registries; code "
          "that can mint it can sign or publish as your release",
          "mint OIDC tokens only in a job that runs no build, no test, no unlocked install "
          "and no pull request code"), id_token_untrusted),
    (Rule("id-token-outside-environment", Severity.HIGH,
          "id-token: write in a job without a protected environment",
          "the OIDC token gets a Sigstore certificate for the workflow's identity; a "
          "signature made with it is a permanent, public transparency-log entry that "
          "verifiers of your releases accept, so it must not exist before a maintainer "
          "approved what is signed",
          "give the job `environment:` (one with required reviewers) and make it need a "
          "job that shows what it will sign; `release workflow generate` does both"),
     id_token_outside_environment),
    (Rule("unpinned-uses", Severity.HIGH,
          "uses: not pinned to a full commit SHA",
          "tags and branches can be moved to other code at any time; only a commit SHA (or "
          "an image digest) names fixed code",
          "pin `owner/name@<40-hex sha>  # vX.Y.Z`; docker images by `@sha256:` digest"),
     unpinned_uses),
    (Rule("persist-credentials", Severity.MEDIUM,
          "actions/checkout without persist-credentials: false",
          "checkout writes the job's token into .git/config, where every later step and any "
          "uploaded artifact of the workspace can read it",
          "add `with: {persist-credentials: false}` to actions/checkout"), persist_credentials),
    (Rule("secret-outside-environment", Severity.MEDIUM,
          "secrets used in a job without a protected environment",
          "a secret outside an environment is available to any workflow run on any branch, "
          "without a reviewer's approval",
          "store the secret in a GitHub environment with required reviewers and give the job "
          "`environment:`"), secrets_outside_environment),
    (Rule("release-workflow-drift", Severity.HIGH,
          "generated release workflow differs from its pipeline",
          "the committed workflow, not the reviewed pipeline, decides what runs with which "
          "permissions; a hand edit or a stale file escapes review",
          "run `release workflow generate PIPELINE` and commit the result"),
     release_workflow_drift),
)


def _quote(lines: list[str], index: int) -> str:
    if index >= len(lines):
        return "end of file"
    text = lines[index].strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _secret_refs(value: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(value, str):
        for match in _SECRET.finditer(value):
            name = match.group(1)
            if name != "GITHUB_TOKEN":
                yield path, f"secrets.{name}" if name else "secrets[...]"
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _secret_refs(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_refs(v, (*path, i))
