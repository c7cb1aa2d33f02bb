"""``python-dist``: real pip (fetch phase against the package index), real pypa build."""

from __future__ import annotations

import json
import shutil
import socket
import tarfile
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "flit-sample"


def _project(repo: Repo, stage: str = "", *, tag: str | None = "v1.2.3") -> Path:
    shutil.copytree(SAMPLE, repo.path, dirs_exist_ok=True)
    path = repo.write("release.yaml", "version: 1\nname: sample\nstages:\n  sdk:\n"
                      "    kind: python-dist\n" + textwrap.indent(textwrap.dedent(stage), "    "))
    repo.commit()
    if tag:
        repo.tag(tag)
    return path


def _artifacts(out: Path) -> dict[str, dict[str, object]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {a["kind"]: a for a in manifest["artifacts"]}


def test_sample_builds_offline_and_reproducibly(repo: Repo, cli, tmp_path: Path) -> None:
    path = _project(repo, "build-requirements: build-requirements.txt\nreproducible: true\n")
    first = cli("run", path, "--out", tmp_path / "a")
    assert first.code == 0, first.err
    assert "fetch phase: 1 pinned wheels" in first.err
    assert "build phase: no network" in first.err
    arts = _artifacts(tmp_path / "a")
    assert arts["sdist"]["name"] == "sample_dist-1.2.3.tar.gz"
    assert arts["wheel"]["name"] == "sample_dist-1.2.3-py3-none-any.whl"
    # the fetched build requirement, by the digest the lock pins (for provenance)
    pinned = ("18f63100d6f94385c6ed57a72073443e1a71a4acb4339491615d0f16d6ff01b2",
              "e7a0304069ea895172e3c7bb703292e992c5d1555dd1233ab7b5621b5b69e62c")
    notes = arts["wheel"]["annotations"]
    assert isinstance(notes, dict)
    wheel = notes.pop("fetched:pkg:pypi/flit-core@3.12.0")
    assert wheel in pinned
    assert notes == {"name": "sample-dist", "version": "1.2.3"}
    with zipfile.ZipFile(tmp_path / "a" / "sdk" / "sample_dist-1.2.3-py3-none-any.whl") as zf:
        assert "sample_dist/__init__.py" in zf.namelist()
        meta = zf.read("sample_dist-1.2.3.dist-info/METADATA").decode()
    assert "Name: sample-dist\n" in meta and "Version: 1.2.3\n" in meta
    with tarfile.open(tmp_path / "a" / "sdk" / "sample_dist-1.2.3.tar.gz") as tf:
        names = tf.getnames()
    assert "sample_dist-1.2.3/sample_dist/__init__.py" in names
    assert not any("release.yaml" in n for n in names)  # flit's sdist: package and metadata

    # a second run of the same commit, elsewhere and later, gives the same bytes
    second = cli("run", path, "--out", tmp_path / "b")
    assert second.code == 0, second.err
    again = _artifacts(tmp_path / "b")
    assert [arts[k]["sha256"] for k in ("sdist", "wheel")] == \
        [again[k]["sha256"] for k in ("sdist", "wheel")]


def test_build_pinned_in_the_lock_is_used(repo: Repo, cli, tmp_path: Path) -> None:
    path = _project(repo, "build-requirements: build-requirements-frontend.txt\n")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    assert "fetch phase: 4 pinned wheels" in res.err
    assert "Successfully installed build-1.6.1" in res.err


def test_version_must_match_the_tag(repo: Repo, cli, tmp_path: Path) -> None:
    path = _project(repo, "build-requirements: build-requirements.txt\n", tag="v2.0.0")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "the sdist has version 1.2.3, but tag v2.0.0 says 2.0.0" in res.err


def test_untagged_build_skips_the_version_check(repo: Repo, cli, tmp_path: Path) -> None:
    path = _project(repo, "build-requirements: build-requirements.txt\n", tag=None)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    assert "no release tag: the distributions' version is not checked" in res.err


def test_wrong_hash_is_refused_by_the_fetch(repo: Repo, cli, tmp_path: Path) -> None:
    path = _project(repo, "build-requirements: build-requirements.txt\n")
    lock = repo.path / "build-requirements.txt"
    lock.write_text(lock.read_text().replace("sha256:18f6", "sha256:0000")
                    .replace("sha256:e7a0", "sha256:0000"))
    repo.commit("tamper")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "DO NOT MATCH THE HASHES" in res.err
    assert not list((tmp_path / "out").glob("sdk/*"))


@pytest.mark.parametrize(("requires", "lock", "message"), [
    ('["flit_core >=3.13,<4"]', "build-requirements.txt",
     "[build-system] requires is not covered by build-requirements.txt: flit_core >=3.13,<4 "
     "is not satisfied by flit-core==3.12.0 (line 2)"),
    ('["flit_core >=3.9,<4", "wheel"]', "build-requirements.txt",
     "[build-system] requires is not covered by build-requirements.txt: wheel is not pinned"),
    ('["flit_core >=3.9,<4"]', None,
     "[build-system] requires is not covered by no build-requirements lock: "
     "flit_core >=3.9,<4 is not pinned"),
])
def test_requires_not_covered_by_the_lock(repo: Repo, cli, tmp_path: Path, requires: str,
                                          lock: str | None, message: str) -> None:
    stage = f"build-requirements: {lock}\n" if lock else ""
    path = _project(repo, stage)
    pyproject = repo.path / "pyproject.toml"
    if requires != '["flit_core >=3.9,<4"]':
        pyproject.write_text(pyproject.read_text().replace('["flit_core >=3.9,<4"]', requires))
        repo.commit("requires")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert message in res.err
    assert "fetch phase" not in res.err  # refused before anything was downloaded


@pytest.mark.parametrize(("lock", "message"), [
    ("--index-url https://example.invalid/simple\n",
     "build-requirements.txt:1: --index-url is not allowed in a build lock"),
    ("flit-core>=3.9 --hash=sha256:" + "a" * 64 + "\n",
     "build-requirements.txt:1: 'flit-core>=3.9' is not pinned to one version"),
    ("# pins\nflit-core==3.12.0\n",
     "build-requirements.txt:2: flit-core needs --hash options and nothing else"),
    ("flit-core==3.12.0 --hash=sha256:" + "a" * 64 + " \\\n    --no-binary :all:\n",
     "build-requirements.txt:1: flit-core needs --hash options and nothing else"),
])
def test_lock_holds_hash_pinned_requirements_only(repo: Repo, cli, tmp_path: Path, lock: str,
                                                  message: str) -> None:
    path = _project(repo, "build-requirements: build-requirements.txt\n")
    (repo.path / "build-requirements.txt").write_text(lock)
    repo.commit("lock")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 2, res.err  # a file of the release commit is bad input
    file_line, _, text = message.partition(": ")
    assert f"{file_line}: error: {text}" in res.err


@pytest.mark.parametrize(("stage", "message", "where"), [
    ("project: ../elsewhere\n", "stays inside it", "release.yaml:6:14"),
    ("index-url: http://pypi.example/simple\n", "must be an https:// address", "release.yaml:6:16"),
])
def test_config_errors_point_at_the_file(repo: Repo, cli, stage: str, message: str,
                                         where: str) -> None:
    path = _project(repo, stage)
    res = cli("plan", path)
    assert res.code == 2
    assert f"{where}: error: " in res.err and message in res.err


# -- the backend itself runs with no network -------------------------------------------

BACKEND = '''\
"""An in-tree PEP 517 backend that reports whether it can reach the network."""
import os
import socket


def _probe():
    try:
        socket.create_connection(("127.0.0.1", int(os.environ["PROBE_PORT"])), timeout=5)
    except OSError as exc:
        raise RuntimeError(f"probe: no network in the build ({exc})") from None
    raise RuntimeError("probe: the build reached the network")


def build_sdist(sdist_directory, config_settings=None):
    _probe()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _probe()
'''


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("sandbox", [True, False])
def test_backend_runs_without_network(repo: Repo, cli, tmp_path: Path, listener: int,
                                      sandbox: bool) -> None:
    repo.write("backend/probe_backend.py", BACKEND)
    repo.write("pyproject.toml", """\
        [build-system]
        requires = []
        build-backend = "probe_backend"
        backend-path = ["backend"]
        """)
    path = repo.write("release.yaml", f"""\
        version: 1
        name: probe
        stages:
          sdk:
            kind: python-dist
            env: {{PROBE_PORT: "{listener}"}}
        """)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out", *([] if sandbox else ["--no-sandbox"]))
    assert res.code == 1
    if sandbox:
        assert "probe: no network in the build" in res.err
    else:  # the control: the same backend does reach the listener outside the sandbox
        assert "probe: the build reached the network" in res.err
