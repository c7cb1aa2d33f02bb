"""The steps of a generated job: check out, set up Python, install, fetch inputs, run, upload.

Every ``uses:`` comes from :mod:`release.workflows.pins`. No step puts a ``${{ }}``
expression inside ``run:``: values reach shell scripts through ``env:`` only, so no
context value can become shell code (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#understanding-the-risk-of-script-injections).
The one exception is the command of a sandboxed step, whose sandbox passes no variable
in: it carries its needs' manifest digests as expressions, each checked to be 64 hex
digits by an ``env:`` step before it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from release.workflows.pins import pin
from release.workflows.yamlemit import Note

#: Python the hash-locked requirements were compiled for.
PYTHON_VERSION = "3.11"
#: Locks installed before the tool itself: the runtime, then its build backend (flit_core),
#: which ``pip install --no-build-isolation .`` needs and which main.txt does not carry.
REQUIREMENTS = ("requirements/main.txt", "requirements/build.txt")
#: Working directories inside the checkout: a gVisor-sandboxed step sees only the workspace.
ARTIFACTS = "_release/artifacts"
OUT = "_release/out"
#: Where the reviews packed into a job run, apart from the outputs they review.
REVIEWS = "_release/reviews"

#: AppArmor profile letting bwrap alone create user namespaces on ubuntu-24.04, whose
#: kernel.apparmor_restrict_unprivileged_userns=1 otherwise makes bwrap fail with
#: "setting up uid map: Permission denied". Narrower than setting that sysctl to 0, which
#: would give every process on the runner unprivileged user namespaces. This is the
#: profile shape Ubuntu itself ships for such programs
#: (https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces).
APPARMOR_PROFILE = """\
abi <abi/4.0>,
include <tunables/global>

profile bwrap /usr/bin/bwrap flags=(unconfined) {
  userns,

  include if exists <local/bwrap>
}
"""


def _uses(action: str) -> Note:
    p = pin(action)
    return Note(p.uses, p.version)


def checkout() -> dict[str, object]:
    return {"name": "Check out the commit being released", "uses": _uses("actions/checkout"),
            "with": {"persist-credentials": False}}


def setup_python() -> dict[str, object]:
    # no `cache:` input: setup-python caches only when asked, and a release never is
    return {"name": "Set up Python", "uses": _uses("actions/setup-python"),
            "with": {"python-version": PYTHON_VERSION}}


def install() -> dict[str, object]:
    locks = " ".join(f"-r {r}" for r in REQUIREMENTS)
    return {"name": "Install release from hash-locked requirements",
            "run": f"python -m pip install --require-hashes --no-deps --no-cache-dir {locks}\n"
                   "python -m pip install --no-deps --no-build-isolation --no-cache-dir .\n"}


def apparmor() -> dict[str, object]:
    script = (
        "sudo apt-get update -qq\n"
        "sudo apt-get install --yes --no-install-recommends bubblewrap\n"
        "sudo tee /etc/apparmor.d/bwrap >/dev/null <<'EOF'\n"
        f"{APPARMOR_PROFILE}"
        "EOF\n"
        "sudo apparmor_parser -r /etc/apparmor.d/bwrap\n"
    )
    return {"name": "Let bubblewrap (only) create user namespaces", "run": script}


def artifact_name(stage: str) -> str:
    return f"stage-{stage}"


def download(needs: Sequence[str]) -> dict[str, object]:
    names = [artifact_name(n) for n in needs]
    # download-artifact matches with minimatch, which expands {a,b}; one name needs no braces
    pattern = names[0] if len(names) == 1 else "stage-{" + ",".join(needs) + "}"
    return {"name": "Download the outputs of " + ", ".join(needs),
            "uses": _uses("actions/download-artifact"),
            "with": {"pattern": pattern, "path": ARTIFACTS, "merge-multiple": True}}


def manifest_variable(need: str) -> str:
    """The variable that carries a need's manifest digest into a job's run step."""
    return "MANIFEST_" + need.upper().replace("-", "_")


def manifest_output(stage: str) -> str:
    """The step and job output that carries the digest of a stage's manifest."""
    return f"manifest-{stage}"


def run_stage(pipeline: str, stages: Sequence[str], *, dry_run: bool, has_inputs: bool,
              report: str | None, env: Mapping[str, str], minutes: int,
              sandboxed: bool, expect: Sequence[str] = (), artifacts: str = ARTIFACTS,
              out: str = OUT, step_id: str = "run", isolated: bool = True) -> dict[str, object]:
    """The step that runs the stages, in the order of their needs. ``expect`` names the
    needs whose manifest digest, as their jobs reported it (job outputs, passed through
    ``env``; in a sandboxed step the expressions of ``env`` go on the command line),
    binds the hand-off. ``isolated=False`` (a macOS runner, which has no bubblewrap) runs
    them with ``--no-sandbox``."""
    argv = ["release", "run", pipeline]
    for stage in stages:
        argv += ["--stage", stage]
    if has_inputs:
        argv += ["--artifacts", artifacts]
    argv += ["--out", out]
    if dry_run:
        argv.append("--dry-run")
    if report:
        argv += ["--report", report]
    if not isolated:
        argv.append("--no-sandbox")
    command = shlex.join(argv)
    for need in expect:
        if sandboxed:
            # the sandbox passes no outer variable in: the digest itself goes on the command
            # line, as GitHub expands the input before the step runs; the check step before
            # (:func:`check_digests`) has made sure the value is 64 hex digits
            command += f' --expect-manifest "{need}={env[manifest_variable(need)]}"'
        else:
            command += f' --expect-manifest "{need}=${{{manifest_variable(need)}}}"'
    command += "\n"
    plural = "s" if len(stages) > 1 else ""
    title = f"{'Dry-run' if dry_run else 'Run'} stage{plural} {', '.join(stages)}"
    step: dict[str, object] = {"name": title, "id": step_id}
    if sandboxed:
        # the sandbox hides the runner's tokens (cache, runtime) from the stage; its writes
        # persist so the outputs can be uploaded, and later steps treat them as untrusted
        step["name"] = title + " in a gVisor sandbox"
        step["uses"] = _uses("geomys/sandboxed-step")
        step["with"] = {"persist-workspace-changes": "true", "run": command}
    else:
        if env:
            step["env"] = dict(env)
        step["run"] = command
    step["timeout-minutes"] = minutes
    return step


def check_digests(env: Mapping[str, str]) -> dict[str, object]:
    """Before a sandboxed run: every need's reported digest is 64 hex digits, so the
    expression that puts it on the sandboxed command line cannot carry shell code."""
    script = "".join(f'[[ "${{{name}}}" =~ ^[0-9a-f]{{64}}$ ]] || '
                     f'{{ echo "::error::{name} is no sha256 digest"; exit 1; }}\n'
                     for name in env)
    return {"name": "Check the manifest digests of the needs", "env": dict(env), "run": script}


def report_manifest(stage: str) -> dict[str, object]:
    """After a sandboxed run, outside the sandbox: the sha256 of the manifest it produced,
    as ``release run`` reports it in an unsandboxed job, becomes the step output
    ``manifest``. The workspace is untrusted now: only a regular file is hashed."""
    path = shlex.quote(f"{OUT}/manifests/{stage}.json")
    script = (f"manifest={path}\n"
              'if [ -L "$manifest" ] || [ ! -f "$manifest" ]; then\n'
              '  echo "::error::$manifest is not a regular file"; exit 1\n'
              "fi\n"
              'digest=$(sha256sum -- "$manifest")\n'
              f'echo "{manifest_output(stage)}=${{digest%% *}}" >> "$GITHUB_OUTPUT"\n')
    return {"name": f"Report the manifest digest of {stage}", "id": "digest", "run": script}


def upload(stage: str) -> dict[str, object]:
    return {"name": f"Upload the outputs of {stage}", "uses": _uses("actions/upload-artifact"),
            "with": {"name": artifact_name(stage),
                     "path": f"{OUT}/{stage}\n{OUT}/manifests/{stage}.json\n",
                     "if-no-files-found": "error", "include-hidden-files": True}}


def upload_report(stage: str, path: str) -> dict[str, object]:
    return {"name": f"Keep the review report of {stage}",
            "uses": _uses("actions/upload-artifact"),
            "with": {"name": f"review-{stage}", "path": path, "if-no-files-found": "error"}}
