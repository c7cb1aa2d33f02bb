"""Faults while publishing: every case ends in a correct published release or an unpublished
draft, never a published release with a missing or wrong asset, and a re-run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.github.conftest import REPOSITORY, ReleaseSetup
from tests.github_server import Fault

UPLOAD = r"/releases/\d+/assets$"


def publish(cli, setup: ReleaseSetup, *extra: str):  # type: ignore[no-untyped-def]
    return cli("run", setup.pipeline, "--out", setup.out, *extra, cwd=setup.repo.path)


def assert_sound(setup: ReleaseSetup, *, published: bool) -> None:
    """No published release is incomplete or wrong; ``published`` says whether one exists."""
    expected = sorted((n, f"sha256:{d}") for n, d in setup.built().items())
    rels = setup.server.releases(REPOSITORY)
    done = [r for r in rels if not r.draft]
    assert len(done) == (1 if published else 0)
    for rel in done:
        assert sorted((a.name, a.digest or "") for a in rel.assets) == expected
        assert all(a.state == "uploaded" for a in rel.assets) and rel.immutable
    if published:
        assert len(rels) == 1, "the draft of an earlier attempt was not reused"


@pytest.fixture
def setup(release_setup: ReleaseSetup, monkeypatch) -> ReleaseSetup:
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    return release_setup


@pytest.mark.parametrize("fault", [
    Fault("status", "POST", r"/releases$"),                        # create refused with a 502
    Fault("status", "POST", r"/releases$", apply_first=True),      # 502 after creating it
    Fault("status", "GET", r"/releases$", times=2),                # list: retried
    Fault("status", "PATCH", r"/releases/\d+$", apply_first=True),  # published, then 502
    Fault("reset", "POST", UPLOAD, after_bytes=3),                 # cut off mid-upload
    Fault("status", "POST", UPLOAD, apply_first=True),             # stored, then 502
    Fault("rate-limit", "POST", UPLOAD, status=403),               # secondary rate limit
    Fault("rate-limit", "GET", r"/releases$", status=429),
], ids=["create-502", "create-applied-502", "list-502", "publish-applied-502",
        "upload-reset", "upload-applied-502", "upload-rate-limit", "list-429"])
def test_transient_fault_is_absorbed(cli, setup: ReleaseSetup, fault: Fault) -> None:
    setup.server.inject(fault)
    result = publish(cli, setup)
    assert result.code == 0, result.out + result.err
    assert fault.times == 0, "the fault was never triggered"
    assert_sound(setup, published=True)


def test_upload_reset_leaves_a_partial_asset_that_is_replaced(cli, setup: ReleaseSetup) -> None:
    setup.server.inject(Fault("reset", "POST", UPLOAD, after_bytes=3))
    result = publish(cli, setup)
    assert result.code == 0
    assert "removing the partial asset (state starter)" in result.err


def test_persistent_failure_leaves_a_draft_and_a_rerun_finishes(cli, setup: ReleaseSetup
                                                                ) -> None:
    setup.server.inject(Fault("reset", "POST", UPLOAD, times=50))
    failed = publish(cli, setup)
    assert failed.code == 1
    assert_sound(setup, published=False)
    assert len(setup.server.releases(REPOSITORY)) == 1  # one draft, not published
    setup.server.faults.clear()
    again = publish(cli, setup)
    assert again.code == 0, again.out + again.err
    assert "resuming our draft" in again.err
    assert_sound(setup, published=True)


def test_stored_digest_mismatch_deletes_the_asset_and_fails(cli, setup: ReleaseSetup) -> None:
    setup.server.inject(Fault("corrupt", "POST", UPLOAD))
    failed = publish(cli, setup)
    assert failed.code == 1
    assert "the asset was deleted" in failed.out
    assert_sound(setup, published=False)
    [draft] = setup.server.releases(REPOSITORY)
    built = setup.built()
    assert all(a.digest == f"sha256:{built[a.name]}" for a in draft.assets)
    again = publish(cli, setup)
    assert again.code == 0
    assert_sound(setup, published=True)


def test_crash_between_upload_and_publish_then_rerun(cli, setup: ReleaseSetup) -> None:
    """A real crash: the publishing process is killed when its publish request arrives."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "CI", "GITHUB_API_URL",
                                                          "GITHUB_TOKEN")}
    # build the artifacts first; the release stage alone runs in the process we kill
    build = publish(cli, setup, "--stage", "build")
    sums = publish(cli, setup, "--stage", "checksums", "--artifacts", setup.out)
    assert build.code == 0 and sums.code == 0
    procs: list[subprocess.Popen[bytes]] = []
    setup.server.inject(Fault("crash", "PATCH", r"/releases/\d+$",
                              on_crash=lambda: procs[0].send_signal(signal.SIGKILL)))
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "release", "run", str(setup.pipeline), "--stage", "publish",
         "--artifacts", str(setup.out), "--out", str(setup.out)],
        cwd=setup.repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    output, _ = procs[0].communicate(timeout=120)
    assert procs[0].returncode == -signal.SIGKILL, output.decode()
    [draft] = setup.server.releases(REPOSITORY)
    assert draft.draft and len(draft.assets) == 3  # everything uploaded, nothing published
    before = len(setup.server.requests)
    again = publish(cli, setup, "--stage", "publish", "--artifacts", setup.out)
    assert again.code == 0, again.out + again.err
    assert_sound(setup, published=True)
    uploads = [r for r in setup.server.requests[before:] if r.host == "uploads"]
    assert uploads == []  # the re-run only published


def test_reset_halfway_through_a_large_upload(github_server, tmp_path) -> None:
    """The connection drops while the client is still sending: the upload resumes cleanly."""
    from tests.github.test_attest_and_download import files
    from tests.github.test_attest_and_download import publish as publish_files

    data = bytes(range(256)) * (16 << 10)  # 4 MiB
    assets = files(tmp_path, {"big.bin": data})
    github_server.add_repo(REPOSITORY)
    github_server.set_tag(REPOSITORY, "v1.0.0", "c" * 40)
    fault = github_server.inject(Fault("reset", "POST", UPLOAD))  # after half the body
    result, log = publish_files(github_server, assets)
    assert fault.times == 0
    assert result.assets == {"big.bin": f"sha256:{assets[0].sha256}"}
    assert any("removing the partial asset (state starter)" in line for line in log)
    [rel] = github_server.releases(REPOSITORY)
    assert rel.assets[0].path.read_bytes() == data
