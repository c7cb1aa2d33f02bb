"""The steps of a generated job: check out, set up Python, install, fetch inputs, run, upload.

Every ``uses:`` comes from :mod:`release.workflows.pins`. No step puts a ``${{ }}``
expression inside ``run:``: values reach shell scripts through ``env:`` only, so no
context value can become shell code (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#understanding-the-risk-of-script-injections).
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


def run_stage(pipeline: str, stage: str, *, dry_run: bool, has_inputs: bool,
              report: str | None, env: Mapping[str, str], minutes: int,
              sandboxed: bool, expect: Sequence[str] = ()) -> dict[str, object]:
    """The step that runs the stage. ``expect`` names the needs whose manifest digest, as
    their jobs reported it (job outputs, passed through ``env``), binds the hand-off."""
    argv = ["release", "run", pipeline, "--stage", stage]
    if has_inputs:
        argv += ["--artifacts", ARTIFACTS]
    argv += ["--out", OUT]
    if dry_run:
        argv.append("--dry-run")
    if report:
        argv += ["--report", report]
    command = shlex.join(argv)
    for need in expect:
        command += f' --expect-manifest "{need}=${{{manifest_variable(need)}}}"'
    command += "\n"
    title = f"{'Dry-run' if dry_run else 'Run'} stage {stage}"
    step: dict[str, object] = {"name": title, "id": "run"}
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


def upload(stage: str) -> dict[str, object]:
    return {"name": f"Upload the outputs of {stage}", "uses": _uses("actions/upload-artifact"),
            "with": {"name": artifact_name(stage),
                     "path": f"{OUT}/{stage}\n{OUT}/manifests/{stage}.json\n",
                     "if-no-files-found": "error", "include-hidden-files": True}}


def upload_report(stage: str, path: str) -> dict[str, object]:
    return {"name": f"Keep the review report of {stage}",
            "uses": _uses("actions/upload-artifact"),
            "with": {"name": f"review-{stage}", "path": path, "if-no-files-found": "error"}}
