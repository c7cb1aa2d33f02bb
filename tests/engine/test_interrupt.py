"""Ctrl-C stops running stages cleanly and reports them as cancelled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import Repo


def test_interrupt_cancels_running_stages(repo: Repo, tmp_path):
    repo.write("p.yaml", """\
        version: 1
        name: slow
        stages:
          slow:
            kind: command
            run: ["sh", "-c", "echo begun; sleep 60"]
            outputs: ["x"]
          after:
            kind: checksums
            needs: [slow]
        """)
    repo.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["CI"] = "true"
    proc = subprocess.Popen(
        [sys.executable, "-m", "release", "run", "p.yaml", "--out", str(tmp_path / "out")],
        cwd=repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "[slow] begun" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:3]}
    assert "cancelled (interrupted)" in rows["slow"]
    assert "cancelled (interrupted before it started)" in rows["after"]
    assert "Traceback" not in err
