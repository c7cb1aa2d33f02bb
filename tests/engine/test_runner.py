"""The engine end to end: credentials, redaction, parallelism, aborts, tamper detection,
single-stage mode and dry-run, through the real CLI and a real bubblewrap sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from release.engine.redaction import Redactor
from release.engine.results import StageResult, Status
from release.engine.run_options import RunOptions
from release.engine.runner import Runner
from release.engine.source import discover
from release.pipeline.load import load
from tests.conftest import Repo

FAKE_TOKEN = "ghs_" + "A1b2C3d4" * 5
RUNTIME_TOKEN = "runtime-" + "x9" * 20
OIDC_TOKEN = "oidc-request-" + "y8" * 20


def pipeline(repo: Repo, body: str) -> Path:
    path = repo.write("release.yaml", "version: 1\nname: demo\nstages:\n" + body)
    repo.commit()
    return path


def set_ci_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", RUNTIME_TOKEN)
    monkeypatch.setenv("ACTIONS_CACHE_URL", "https://cache.invalid/")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://oidc.invalid/")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_TOKEN)


DUMP_ENV = """
  {sid}:
    kind: command
    run: ["sh", "-c", "env > {{out}}/{sid}.env"]
    outputs: ["{sid}.env"]
"""


def test_environment_is_scrubbed_per_permissions(repo: Repo, cli, monkeypatch, tmp_path):
    body = (DUMP_ENV.format(sid="plain")
            + DUMP_ENV.format(sid="reader") + "    permissions: {contents: read}\n"
            + DUMP_ENV.format(sid="signer") + "    permissions: {id-token: write}\n")
    path = pipeline(repo, body)
    set_ci_secrets(monkeypatch)
    monkeypatch.setenv("MY_PRIVATE_SETTING", "leak-me")
    out = tmp_path / "out"
    result = cli("run", path, "--out", out)
    assert result.code == 0, result.err
    envs = {sid: dict(line.split("=", 1) for line in (out / sid / f"{sid}.env")
                      .read_text().splitlines() if "=" in line)
            for sid in ("plain", "reader", "signer")}
    for env in envs.values():
        assert "ACTIONS_RUNTIME_TOKEN" not in env
        assert "ACTIONS_CACHE_URL" not in env
        assert "MY_PRIVATE_SETTING" not in env
        assert env["TZ"] == "UTC" and env["LC_ALL"] == "C.UTF-8"
        assert env["PIP_NO_CACHE_DIR"] == "1"
        assert env["SOURCE_DATE_EPOCH"].isdigit()
    assert "GITHUB_TOKEN" not in envs["plain"]
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in envs["plain"]
    assert envs["reader"]["GITHUB_TOKEN"] == FAKE_TOKEN
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in envs["reader"]
    assert "GITHUB_TOKEN" not in envs["signer"]
    assert envs["signer"]["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] == OIDC_TOKEN
    # each stage got its own fresh HOME
    assert envs["plain"]["HOME"] != envs["reader"]["HOME"]


def test_token_printed_by_a_stage_is_redacted(repo: Repo, cli, monkeypatch, tmp_path):
    path = pipeline(repo, """
  leak:
    kind: command
    permissions: {contents: read}
    run: ["sh", "-c", "echo token=$GITHUB_TOKEN; echo pat=$PAT; echo ok > {out}/ok"]
    env: {PAT: github_pat_11ABCDEFG0123456789_abcdefghijklmnop}
    outputs: ["ok"]
""")
    set_ci_secrets(monkeypatch)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert FAKE_TOKEN not in result.out + result.err
    assert "github_pat_11" not in result.out + result.err
    assert "token=***" in result.err


def test_error_messages_are_redacted_too(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    result = cli("plan", tmp_path / f"{FAKE_TOKEN}.yaml")
    assert result.code == 2
    assert FAKE_TOKEN not in result.err and "***" in result.err


def test_redactor_masks_known_values_and_token_shapes():
    redact = Redactor(["s3cr3t-value"])
    jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig"
    text = redact(f"a s3cr3t-value b ghp_{'a' * 36} c {jwt} d")
    assert text == "a *** b *** c *** d"


def test_redactor_masks_the_password_of_a_url_and_keeps_the_rest():
    redact = Redactor()
    assert redact("pip: --index-url https://bot:S3CRET@pypi.corp.example/simple") == \
        "pip: --index-url https://***@pypi.corp.example/simple"
    for kept in ("git@github.com:o/r.git", "http://127.0.0.1:5000/v2/", "https://h/a:b@c",
                 "https://user@host/x"):
        assert redact(kept) == kept


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def started(self, stage: str, kind: str) -> None:
        self.log.append(("start", stage))

    def line(self, stage: str, text: str) -> None:
        pass

    def finished(self, result: StageResult) -> None:
        self.log.append((result.status.value, result.stage))


def run_engine(path: Path, out: Path, reporter=None, **kw) -> tuple[Runner, object]:
    loaded = load(path)
    src = discover(path, tags="v*", version=None, repository=None, environ={})
    runner = Runner(loaded, RunOptions(out=out, **kw), src, reporter or Events(), {},
                    Redactor())
    return runner, runner.run()


SLEEPERS = """
  a:
    kind: command
    run: ["sh", "-c", "sleep 1; echo a > {out}/a"]
    outputs: ["a"]
  b:
    kind: command
    run: ["sh", "-c", "sleep 1; echo b > {out}/b"]
    outputs: ["b"]
  sums:
    kind: checksums
    needs: [a, b]
"""


def test_independent_stages_run_in_parallel(repo: Repo, tmp_path):
    path = pipeline(repo, SLEEPERS)
    events = Events()
    run_engine(path, tmp_path / "out", events, jobs=2)
    starts = events.log[:2]
    assert sorted(starts) == [("start", "a"), ("start", "b")]
    assert events.log[-2:] == [("start", "sums"), ("success", "sums")]


def test_jobs_one_runs_sequentially(repo: Repo, tmp_path):
    path = pipeline(repo, SLEEPERS)
    events = Events()
    run_engine(path, tmp_path / "out", events, jobs=1)
    assert [e[0] for e in events.log[:4]] == ["start", "success", "start", "success"]


def test_dependants_of_a_failed_stage_are_aborted(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  broken:
    kind: command
    run: ["sh", "-c", "echo failing; exit 3"]
    outputs: ["x"]
  fine:
    kind: command
    run: ["sh", "-c", "echo ok > {out}/ok"]
    outputs: ["ok"]
  sums:
    kind: checksums
    needs: [broken, fine]
  after:
    kind: checksums
    needs: [sums]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    lines = {line.split()[0]: line for line in result.out.splitlines()[1:5]}
    assert "failed (sh exited with status 3)" in lines["broken"]
    assert "success" in lines["fine"]
    assert "aborted (needs 'broken', which failed)" in lines["sums"]
    assert "aborted (needs 'sums', which aborted)" in lines["after"]
    assert not (tmp_path / "out" / "manifest.json").exists()


class Tamper(Events):
    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def finished(self, result: StageResult) -> None:
        super().finished(result)
        if result.stage == "a":
            target = self.out / "a" / "a"
            target.write_bytes(target.read_bytes().replace(b"a", b"A"))


def test_tampering_between_stages_stops_the_run(repo: Repo, tmp_path):
    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    out = tmp_path / "out"
    runner, _result = run_engine(path, out, Tamper(out), jobs=2)
    sums = runner.results["sums"]
    assert sums.status is Status.FAILED
    assert "a/a changed after stage 'a' produced it" in sums.reason
    recorded = next(a.sha256 for a in runner.produced["a"])
    assert recorded in sums.reason


def test_outputs_must_be_regular_files_inside_the_stage(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  link:
    kind: command
    run: ["sh", "-c", "ln -s /etc/passwd {out}/passwd"]
    outputs: ["passwd"]
  missing:
    kind: command
    run: ["true"]
    outputs: ["nothing-here"]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "output 'passwd' is a symlink" in result.out
    assert "did not produce its declared output 'nothing-here'" in result.out


def test_sandbox_has_no_network_and_a_read_only_system(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  net:
    kind: command
    run: ["python3", "-c", "import socket; socket.create_connection(('1.1.1.1', 53), 3)"]
    outputs: ["x"]
  write:
    kind: command
    run: ["sh", "-c", "touch /usr/escape"]
    outputs: ["x"]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "Network is unreachable" in result.err
    assert "Read-only file system" in result.err


def test_single_stage_mode_matches_a_full_run(repo: Repo, cli, tmp_path):
    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", "") + """
  final:
    kind: checksums
    needs: [sums]
    include: ["SHA256SUMS"]
""")
    full = tmp_path / "full"
    assert cli("run", path, "--out", full).code == 0
    loaded = load(path)
    gathered = tmp_path / "gathered"
    for stage, config in loaded.model.stages.items():
        job = tmp_path / f"job-{stage}"
        inputs = tmp_path / f"in-{stage}"
        (inputs / "manifests").mkdir(parents=True)
        for need in config.needs:  # what download-artifact would hand this job
            shutil.copytree(gathered / need, inputs / need)
            shutil.copy(gathered / "manifests" / f"{need}.json", inputs / "manifests")
        result = cli("run", path, "--stage", stage, "--artifacts", inputs, "--out", job)
        assert result.code == 0, result.out + result.err
        shutil.copytree(job / stage, gathered / stage)
        (gathered / "manifests").mkdir(exist_ok=True)
        shutil.copy(job / "manifests" / f"{stage}.json", gathered / "manifests")
    merged = sorted((a for m in (gathered / "manifests").glob("*.json")
                     for a in json.loads(m.read_text())["artifacts"]), key=lambda a: a["path"])
    assert merged == json.loads((full / "manifest.json").read_text())["artifacts"]


def test_single_stage_mode_detects_tampered_hand_off(repo: Repo, cli, tmp_path):
    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    full = tmp_path / "full"
    assert cli("run", path, "--out", full).code == 0
    (full / "b" / "b").write_text("evil\n")
    result = cli("run", path, "--stage", "sums", "--artifacts", full, "--out", tmp_path / "j")
    assert result.code == 1
    assert "artifact b/b changed after stage 'b' produced it" in result.err


def test_single_stage_mode_needs_artifacts(repo: Repo, cli, tmp_path):
    path = pipeline(repo, SLEEPERS)
    result = cli("run", path, "--stage", "sums", "--out", tmp_path / "j")
    assert result.code == 2
    assert "pass --artifacts DIR" in result.err
    result = cli("run", path, "--stage", "sum", "--out", tmp_path / "j")
    assert result.code == 2 and "no stage 'sum'" in result.err


def test_dry_run_works_without_credentials(repo: Repo, cli, tmp_path):
    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    out = tmp_path / "out"
    report = tmp_path / "review.json"
    result = cli("run", path, "--dry-run", "--out", out, "--report", report,
                 "--report", tmp_path / "review.md")
    assert result.code == 0, result.err
    data = json.loads(report.read_text())
    assert data["dry_run"] is True
    digests = {a["name"]: a["sha256"] for st in data["stages"].values() for a in st["artifacts"]}
    assert set(digests) == {"a", "b", "SHA256SUMS"}
    assert digests["SHA256SUMS"] in (tmp_path / "review.md").read_text()


def test_dirty_tree_is_refused_unless_allowed(repo: Repo, cli, tmp_path):
    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    path.write_text(path.read_text() + "\n# edited\n")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2 and "uncommitted changes" in result.err
    result = cli("run", path, "--out", tmp_path / "out", "--allow-dirty")
    assert result.code == 0
    assert "WARNING" in result.err
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["allow_dirty"] is True


def test_stage_timeout_kills_the_command(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  slow:
    kind: command
    run: ["sleep", "30"]
    outputs: ["x"]
    timeout: 1s
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "timed out after 1s" in result.out


def test_untracked_files_cannot_be_read_by_absolute_path(cli, tmp_path):
    """The checkout is hidden in the sandbox, wherever it lives (not only under /tmp)."""
    import subprocess
    import uuid

    outside_tmp = Path(__file__).resolve().parents[2] / "build" / f"leak-{uuid.uuid4().hex}"
    outside_tmp.mkdir(parents=True)
    try:
        repo = Repo(outside_tmp)
        subprocess.run(["git", "init", "-q", str(outside_tmp)], check=True)
        subprocess.run(["git", "-C", str(outside_tmp), "config", "user.email", "t@example.invalid"],
                       check=True)
        subprocess.run(["git", "-C", str(outside_tmp), "config", "user.name", "t"], check=True)
        secret = outside_tmp / "untracked-secret.txt"
        path = pipeline(repo, f"""
  leak:
    kind: command
    run: ["sh", "-c", "cat {secret} > {{out}}/copy; echo done > {{out}}/done"]
    outputs: ["done", "copy"]
""")
        secret.write_text("must not reach a build\n")
        result = cli("run", path, "--out", tmp_path / "out")
        assert result.code == 0, result.err
        assert "No such file or directory" in result.err
        assert not (tmp_path / "out" / "leak" / "copy").read_text()
    finally:
        shutil.rmtree(outside_tmp)


def test_sandbox_has_no_capability_and_no_home(repo: Repo, cli, tmp_path):
    home = Path.home()
    path = pipeline(repo, f"""
  probe:
    kind: command
    run: ["sh", "-c", "grep CapEff /proc/self/status > {{out}}/probe;
          (mount -t tmpfs none /mnt && echo MOUNTED; umount -l {home} && echo UNMOUNTED;
           ls -a {home}) >> {{out}}/probe 2>&1; true"]
    outputs: ["probe"]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    probe = (tmp_path / "out" / "probe" / "probe").read_text()
    assert "CapEff:\t0000000000000000" in probe
    assert "MOUNTED" not in probe
    # the home is not in the sandbox; at most a toolchain folder inside it shows through
    visible = {line for line in probe.splitlines()[1:] if line and " " not in line}
    assert not visible & {".ssh", ".netrc", ".git-credentials", ".pypirc", ".docker"}


def test_named_secret_variables_cannot_pull_in_gated_tokens(monkeypatch):
    from release.engine.credentials import stage_environment
    from release.permissions import PermissionSet

    outside = {"GITHUB_TOKEN": FAKE_TOKEN, "ACTIONS_RUNTIME_TOKEN": RUNTIME_TOKEN,
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": OIDC_TOKEN, "MY_PASSPHRASE": "pass-1234"}
    env, secrets = stage_environment(
        outside, PermissionSet(), home=Path("/h"), tmp=Path("/t"), source_date_epoch=1,
        plain={}, secret_names=["GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN",
                                "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "MY_PASSPHRASE"])
    assert secrets == {"MY_PASSPHRASE": "pass-1234"}
    gated = {"GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
    assert not gated & set(env)


def test_undeclared_files_and_links_are_removed_from_the_output(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  messy:
    kind: command
    run: ["sh", "-c", "echo a > {out}/a; echo t > {out}/scratch; ln -s /etc/passwd {out}/pw;
          mkdir {out}/d; echo x > {out}/d/x"]
    outputs: ["a"]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "out" / "messy").iterdir()) == ["a"]
    assert "removed messy/pw: not a declared output" in result.err


def test_an_output_name_with_a_newline_is_refused(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  evil:
    kind: command
    run: ["sh", "-c", "printf x > \\"{out}/a\\n0000  fake\\""]
    outputs: ["a*"]
""")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "has a name that cannot be an artifact's" in result.out


def test_each_line_of_a_multi_line_secret_is_masked():
    pem = ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBm0aXkV2l3hUq6c9k0Q3rXh\n"
           "oAoGCCqGSM49AwEHoUQDQgAEexample\n-----END EC PRIVATE KEY-----\n")
    redact = Redactor([pem])
    assert "MHcCAQEEIBm0aXkV2l3hUq6c9k0Q3rXh" not in redact(
        "key line: MHcCAQEEIBm0aXkV2l3hUq6c9k0Q3rXh")


def test_expected_manifest_digest_binds_the_hand_off(repo: Repo, cli, tmp_path, monkeypatch):
    """A swap of both an artifact and its manifest between jobs is caught by the digest
    the producing job reported (a job output in the generated workflow)."""
    import hashlib

    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    job_a = tmp_path / "job-a"
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert cli("run", path, "--stage", "a", "--out", job_a).code == 0
    reported = output.read_text().strip().removeprefix("manifest-a=")
    manifest = job_a / "manifests" / "a.json"
    assert reported == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert cli("run", path, "--stage", "b", "--out", job_a).code == 0

    # the attacker rewrites the artifact and its manifest consistently
    (job_a / "a" / "a").write_text("evil\n")
    data = json.loads(manifest.read_text())
    data["artifacts"][0]["sha256"] = hashlib.sha256(b"evil\n").hexdigest()
    data["artifacts"][0]["size"] = 5
    manifest.write_text(json.dumps(data))
    plain = cli("run", path, "--stage", "sums", "--artifacts", job_a, "--out", tmp_path / "s1")
    assert plain.code == 0  # without the reported digest the swap is self-consistent
    bound = cli("run", path, "--stage", "sums", "--artifacts", job_a, "--out", tmp_path / "s2",
                "--expect-manifest", f"a={reported}")
    assert bound.code == 1
    assert "the manifest of stage 'a'" in bound.err and reported in bound.err
    bad = cli("run", path, "--stage", "sums", "--artifacts", job_a, "--out", tmp_path / "s3",
              "--expect-manifest", "a=xyz")
    assert bad.code == 2 and "is not STAGE=SHA256" in bad.err
    other = cli("run", path, "--stage", "sums", "--artifacts", job_a, "--out", tmp_path / "s4",
                "--expect-manifest", f"zzz={reported}")
    assert other.code == 2 and "not a need of stage 'sums'" in other.err


def test_several_stages_run_as_one_job_and_report_each_manifest(repo: Repo, cli, tmp_path,
                                                                monkeypatch):
    """``--stage A --stage B``: what a packed job runs. The stages' own hand-offs stay in
    the run; the needs another job made come from --artifacts, bound by their digests."""
    import hashlib

    path = pipeline(repo, SLEEPERS.replace("sleep 1; ", ""))
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    job_a = tmp_path / "job-a"
    assert cli("run", path, "--stage", "a", "--out", job_a).code == 0
    digest_a = output.read_text().strip().removeprefix("manifest-a=")
    output.unlink()
    job_b = tmp_path / "job-b"
    # b and sums in one run: b's hand-off to sums is checked in the run, a's by its digest
    result = cli("run", path, "--stage", "sums", "--stage", "b", "--artifacts", job_a,
                 "--out", job_b, "--expect-manifest", f"a={digest_a}")
    assert result.code == 0, result.err
    reported = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert set(reported) == {"manifest-b", "manifest-sums"}  # never an imported one
    for stage in ("b", "sums"):
        data = (job_b / "manifests" / f"{stage}.json").read_bytes()
        assert reported[f"manifest-{stage}"] == hashlib.sha256(data).hexdigest()
    sums = (job_b / "sums" / "SHA256SUMS").read_text()
    assert {line.split()[1] for line in sums.splitlines()} == {"a", "b"}
    # a digest is expected only for a need another job made
    inner = cli("run", path, "--stage", "b", "--stage", "sums", "--artifacts", job_a,
                "--out", tmp_path / "job-c", "--expect-manifest", f"a={digest_a}",
                "--expect-manifest", f"b={digest_a}")
    assert inner.code == 2
    assert "--expect-manifest names b, not a need of stages 'b', 'sums' made by another " \
           "job" in inner.err
    missing = cli("run", path, "--stage", "b", "--stage", "sums", "--out", tmp_path / "job-d")
    assert missing.code == 2 and "stages 'b', 'sums' need a" in missing.err
    unknown = cli("run", path, "--stage", "b", "--stage", "nope", "--out", tmp_path / "job-e")
    assert unknown.code == 2 and "no stage 'nope'" in unknown.err
