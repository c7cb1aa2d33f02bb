"""The build phase has no network: a command that opens a socket fails in the sandbox."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo

CONNECT = ("import socket, sys\n"
           "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n"
           "print(s.recv(16).decode(), file=open(sys.argv[2], 'w'))\n")


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback that greets whoever connects."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    server.close()


def _pipeline(repo: Repo, port: int) -> Path:
    repo.write("connect.py", CONNECT)
    path = repo.write("release.yaml", f"""\
        version: 1
        name: net
        stages:
          connect:
            kind: command
            run: ["{sys.executable}", "connect.py", "{port}", "{{out}}/greeting.txt"]
            outputs: ["greeting.txt"]
        """)
    repo.commit()
    return path


def test_socket_fails_in_sandbox(repo: Repo, cli, tmp_path: Path, listener: int) -> None:
    path = _pipeline(repo, listener)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    # the sandbox's own loopback is down: nothing reaches the host's listener
    assert "OSError" in res.err or "ConnectionRefusedError" in res.err
    assert "[connect] failed" in res.err
    assert not (tmp_path / "out" / "connect" / "greeting.txt").exists()


def test_same_command_connects_without_sandbox(repo: Repo, cli, tmp_path: Path,
                                               listener: int) -> None:
    """The control: the command itself works, so the failure above is the sandbox's doing."""
    path = _pipeline(repo, listener)
    res = cli("run", path, "--out", tmp_path / "out", "--no-sandbox")
    assert res.code == 0, res.err
    assert "WARNING: --no-sandbox" in res.err
    assert (tmp_path / "out" / "connect" / "greeting.txt").read_text().strip() == "hello"
    assert '"sandbox": false' in (tmp_path / "out" / "manifest.json").read_text()


def test_no_interface_but_loopback(repo: Repo, cli, tmp_path: Path) -> None:
    repo.write("release.yaml", """\
        version: 1
        name: net
        stages:
          links:
            kind: command
            run: ["sh", "-c", "cat /proc/net/dev > {out}/dev.txt"]
            outputs: ["dev.txt"]
        """)
    repo.commit()
    res = cli("run", repo.path / "release.yaml", "--out", tmp_path / "out")
    assert res.code == 0, res.err
    table = (tmp_path / "out" / "links" / "dev.txt").read_text().splitlines()[2:]
    assert [line.split(":")[0].strip() for line in table] == ["lo"]
