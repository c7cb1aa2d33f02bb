"""A hostile build against the engine's own files, the user's files and the hand-off.

Trusted: the pipeline author. Not trusted: whatever the build runs (its code, its
dependencies), and the folder another job hands over. Each attack runs through the
CLI, with a real bubblewrap sandbox and a real victim file outside the run.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.conftest import Repo

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "flit-sample"


def pipeline(repo: Repo, body: str) -> Path:
    path = repo.write("release.yaml", "version: 1\nname: demo\nstages:\n" + body)
    repo.commit()
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim" / "precious.txt"
    path.parent.mkdir()
    path.write_text("precious\n")
    path.chmod(0o600)
    return path


def unchanged(victim: Path) -> bool:
    st = victim.lstat()
    return (victim.read_text() == "precious\n" and stat.S_ISREG(st.st_mode)
            and stat.S_IMODE(st.st_mode) == 0o600)


def test_a_stage_cannot_take_the_engines_manifest_folder(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  manifests:
    kind: command
    run: ["sh", "-c", "echo x > {out}/x"]
    outputs: ["x"]
""")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 2
    assert "release.yaml:5:3" in res.err
    assert "stage id 'manifests' is reserved" in res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "out").exists()


def test_links_left_in_a_stage_folder_are_removed_not_followed(repo: Repo, cli, tmp_path,
                                                               victim):
    # links named like the engine's records, to the victim file and to its folder
    path = pipeline(repo, f"""
  build:
    kind: command
    run: ["sh", "-c", "echo ok > {{out}}/tool && ln -s {victim} {{out}}/build.json.tmp &&
          ln -s {victim.parent} {{out}}/dir && mkdir {{out}}/sub &&
          ln -s {victim} {{out}}/sub/manifest.json"]
    outputs: ["tool"]
  after:
    kind: checksums
    needs: [build]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert unchanged(victim)
    assert sorted(p.name for p in (out / "build").iterdir()) == ["tool"]
    assert "removed build/build.json.tmp: not a declared output" in res.err


def test_setuid_and_world_writable_outputs_are_normalised(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "cp /bin/sh {out}/sh && chmod 6777 {out}/sh && mkdir -m 777 {out}/d &&
          echo data > {out}/d/data && chmod 666 {out}/d/data"]
    outputs: ["sh", "d/data"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert stat.S_IMODE((out / "build" / "sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "build" / "d" / "data").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "build" / "d").stat().st_mode) == 0o755
    modes = {a["name"]: a["mode"] for a in json.loads((out / "manifest.json").read_text())
             ["artifacts"]}
    assert modes == {"sh": "0755", "data": "0644"}
    if os.geteuid() == 0:
        assert (out / "build" / "sh").stat().st_uid == 0


def test_an_output_hard_linked_to_a_host_file_is_refused(repo: Repo, cli, tmp_path, victim):
    path = pipeline(repo, f"""
  build:
    kind: command
    run: ["ln", "{victim}", "{{out}}/tool"]
    outputs: ["tool"]
""")
    res = cli("run", path, "--out", tmp_path / "out", "--no-sandbox")
    assert res.code == 1
    assert "output 'tool' is a hard link" in res.err
    assert unchanged(victim)


def test_an_output_named_like_an_option_is_refused(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo x > {out}/-"]
    outputs: ["-"]
""")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "has a name that cannot be an artifact's" in res.err


@pytest.mark.parametrize("name", [
    "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT",
    "JAVA_TOOL_OPTIONS", "GIT_CONFIG_GLOBAL", "GLIBC_TUNABLES", "PATH", "HOME", "TMPDIR",
    "SOURCE_DATE_EPOCH", "TZ", "GITHUB_SHA", "SSL_CERT_FILE", "HTTPS_PROXY", "PIP_INDEX_URL",
])
def test_env_names_that_steer_loaders_or_the_engine_are_refused(repo: Repo, cli, tmp_path,
                                                                 name):
    path = pipeline(repo, f"""
  build:
    kind: command
    run: ["true"]
    outputs: ["x"]
    env:
      {name}: "/tmp/evil"
""")
    res = cli("plan", path)
    assert res.code == 2
    assert "release.yaml:10:7" in res.err
    assert name in res.err
    assert "Traceback" not in res.err


def test_harmless_build_settings_stay_allowed(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo $GOOS-$CGO_ENABLED-$MY_FLAG > {out}/x"]
    outputs: ["x"]
    env: {GOOS: linux, CGO_ENABLED: "0", MY_FLAG: "on"}
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert (out / "build" / "x").read_text() == "linux-0-on\n"


def test_out_never_deletes_the_users_files(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  docs:
    kind: command
    run: ["sh", "-c", "echo built > {out}/index.html"]
    outputs: ["index.html"]
""")
    user = repo.path / "docs" / "notes.md"
    user.parent.mkdir()
    user.write_text("mine, untracked\n")
    res = cli("run", path, "--out", ".", "--allow-dirty", cwd=repo.path)
    assert res.code == 2
    assert "is not empty and was not created by `release run`" in res.err
    assert user.read_text() == "mine, untracked\n"
    # a folder the tool created is its own: a second run replaces the stage folder
    out = tmp_path / "out"
    assert cli("run", path, "--out", out).code == 0
    assert cli("run", path, "--out", out).code == 0
    assert (out / "docs" / "index.html").read_text() == "built\n"
    # a link as --out is refused, and so is a file
    (tmp_path / "link").symlink_to(out)
    assert cli("run", path, "--out", tmp_path / "link").code == 2
    (tmp_path / "file").write_text("x")
    res = cli("run", path, "--out", tmp_path / "file")
    assert res.code == 2 and "is not a folder" in res.err


def test_no_sandbox_is_refused_while_credentials_are_set(repo: Repo, cli, tmp_path,
                                                        monkeypatch):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo x > {out}/x"]
    outputs: ["x"]
""")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "Z" * 36)
    monkeypatch.setenv("PYPI_API_TOKEN", "pypi-" + "Q" * 40)
    res = cli("run", path, "--out", tmp_path / "a", "--no-sandbox")
    assert res.code == 2
    assert "GITHUB_TOKEN, PYPI_API_TOKEN" in res.err
    assert "Z" * 36 not in res.err + res.out
    res = cli("run", path, "--out", tmp_path / "b", "--no-sandbox",
              "--no-sandbox-with-credentials")
    assert res.code == 0, res.err
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.delenv("PYPI_API_TOKEN")
    # credentials by other names, or a password inside a URL
    for name, value in (("SSH_AUTH_SOCK", "/run/user/0/agent.sock"),
                        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
                        ("DOCKER_AUTH_CONFIG", "{}"),
                        ("DATABASE_URL", "postgres://admin:hunter2@db.internal/app")):
        monkeypatch.setenv(name, value)
        res = cli("run", path, "--out", tmp_path / name, "--no-sandbox")
        assert res.code == 2 and name in res.err, (name, res.err)
        assert "hunter2" not in res.err
        monkeypatch.delenv(name)


def _hostile_python_project(repo: Repo) -> Path:
    shutil.copytree(SAMPLE, repo.path, dirs_exist_ok=True)
    hook = "import sys\nprint('PWNED-{0}', flush=True)\nsys.exit(0)\n"
    for package in ("pip", "venv", "ensurepip"):
        repo.write(f"{package}/__init__.py", hook.format(package))
        repo.write(f"{package}/__main__.py", hook.format(package))
    repo.write("sitecustomize.py", "print('PWNED-site', flush=True)\n")
    repo.write("usercustomize.py", "print('PWNED-user', flush=True)\n")
    path = repo.write("release.yaml", """\
        version: 1
        name: sample
        stages:
          sdk:
            kind: python-dist
            build-requirements: build-requirements.txt
        """)
    repo.commit()
    repo.tag("v1.2.3")
    return path


def test_repository_code_never_runs_in_the_engines_tools(repo: Repo, cli, tmp_path):
    path = _hostile_python_project(repo)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    assert "fetch phase: 1 pinned wheels" in res.err
    for tool in ("pip", "venv", "ensurepip", "site", "user"):
        assert f"PWNED-{tool}" not in res.err + res.out


def test_a_symlinked_stage_folder_in_the_hand_off_is_refused(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo ok > {out}/tool"]
    outputs: ["tool"]
  sums:
    kind: checksums
    needs: [build]
""")
    first = tmp_path / "first"
    assert cli("run", path, "--out", first, "--stage", "build").code == 0
    # the attacker moves the stage's folder away and links it back: same bytes, but
    # read through a link the engine must not follow
    handed = tmp_path / "handed"
    shutil.copytree(first, handed)
    shutil.move(handed / "build", tmp_path / "elsewhere")
    (handed / "build").symlink_to(tmp_path / "elsewhere")
    res = cli("run", path, "--stage", "sums", "--artifacts", handed, "--out", tmp_path / "o1")
    assert res.code == 1
    assert "reached through a symlink" in res.err
    # the manifests folder linked elsewhere, too
    handed2 = tmp_path / "handed2"
    shutil.copytree(first, handed2)
    shutil.move(handed2 / "manifests", tmp_path / "m")
    (handed2 / "manifests").symlink_to(tmp_path / "m")
    res = cli("run", path, "--stage", "sums", "--artifacts", handed2, "--out", tmp_path / "o2")
    assert res.code == 1
    assert "not a regular file in a real folder" in res.err


def test_a_huge_manifest_is_refused_without_reading_it_whole(repo: Repo, cli, tmp_path):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo ok > {out}/tool"]
    outputs: ["tool"]
  sums:
    kind: checksums
    needs: [build]
""")
    handed = tmp_path / "handed"
    assert cli("run", path, "--out", handed, "--stage", "build").code == 0
    with (handed / "manifests" / "build.json").open("r+b") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: cheap on disk, huge to read
    res = cli("run", path, "--stage", "sums", "--artifacts", handed, "--out", tmp_path / "o")
    assert res.code == 1
    assert "is larger than" in res.err


DEEP = """\
import os, sys
for top in (sys.argv[1], os.environ["HOME"]):
    os.chdir(top)
    for _ in range(5000):
        os.mkdir("d")
        os.chdir("d")
    os.symlink(sys.argv[2], "link")
"""


def test_a_tree_thousands_of_folders_deep_is_cleaned_without_recursion(repo: Repo, cli,
                                                                        tmp_path, victim):
    repo.write("deep.py", DEEP)
    path = pipeline(repo, f"""
  build:
    kind: command
    run: ["sh", "-c", "echo ok > {{out}}/tool && python3 deep.py {{out}} {victim}"]
    outputs: ["tool"]
""")
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first's folder
        res = cli("run", path, "--out", out)
        assert res.code == 0, res.err
        assert "internal error" not in res.err
        assert sorted(p.name for p in (out / "build").iterdir()) == ["tool"]
    assert unchanged(victim)


def test_a_lock_line_pip_would_read_as_a_local_file_is_refused(repo: Repo, cli, tmp_path):
    shutil.copytree(SAMPLE, repo.path, dirs_exist_ok=True)
    repo.write("lock.txt", "flit-core===x/../src/evil-1.0.tar.gz --hash=sha256:" + "a" * 64
               + "\n")
    path = repo.write("release.yaml", """\
        version: 1
        name: sample
        stages:
          sdk:
            kind: python-dist
            build-requirements: lock.txt
        """)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 2, res.err  # a bad lock of the release commit: bad input
    assert "lock.txt:1: error: 'flit-core===x/../src/evil-1.0.tar.gz' is not pinned" in res.err
    assert "fetch phase" not in res.err


def test_build_output_cannot_forge_lines_or_workflow_commands(repo: Repo, cli, tmp_path):
    path = pipeline(repo, r"""
  build:
    kind: command
    run: ["sh", "-c", "printf 'compiling\r::add-mask::x\r\n::warning title=ok::fine\x1b[2K\tdone\n';
          head -c 300000 /dev/zero | tr '\\0' a; echo; echo ok > {out}/tool"]
    outputs: ["tool"]
""")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    assert "[build] compiling\\r::add-mask::x\\r" in res.err
    assert "\x1b" not in res.err and "\r" not in res.err
    assert "::warning title=ok::fine\\x1b[2K\tdone" in res.err
    # a 300 kB line arrives in pieces of at most 64 KiB, each on a line of its own
    pieces = [line for line in res.err.splitlines() if line.startswith("[build] aaaa")]
    assert len(pieces) == 5 and sum(len(p) - len("[build] ") for p in pieces) == 300000


def test_a_nul_in_an_argument_is_a_clear_error(repo: Repo, cli):
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo \\0 > {out}/x"]
    outputs: ["x"]
""")
    res = cli("plan", path)
    assert res.code == 2
    assert "release.yaml:7:10" in res.err and "NUL character" in res.err


def test_an_sdist_of_countless_members_is_refused_early(tmp_path, monkeypatch):
    import io
    import tarfile

    from release.errors import ReleaseError
    from release.provenance import pymeta

    monkeypatch.setattr(pymeta, "_MAX_MEMBERS", 1000)  # 100,000 in use: same code, faster
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1001):
            tar.addfile(tarfile.TarInfo(f"demo-1.0/f{i}"), io.BytesIO())
    with pytest.raises(ReleaseError, match="more than 1000 members"):
        pymeta.read_sdist(path)
