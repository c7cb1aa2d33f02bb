"""The example's Go modules: the CLI's committed go.sum pins the committed ``sdk-go/``,
as the real ``go`` computes its hashes (h1: over the module's file names and contents)
when a module proxy serves that folder at the version the CLI requires."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.checkout import clone_checkout
from tests.examples.conftest import CA_CERTIFICATES, SDK_GO, SDK_GO_VERSION
from tests.hermetic import goproxy
from tests.hermetic.goproxy import needs_go

pytestmark = needs_go


def download(module: Path, proxy: goproxy.GoProxy,
             scratch: Path) -> subprocess.CompletedProcess[str]:
    """``go mod download -json SDK@VERSION`` in the CLI's module, on caches of its own;
    go checks what it downloads against the module's go.sum and never writes it."""
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "GOPROXY": proxy.url,
           "GOSUMDB": "off", "GOFLAGS": "-mod=readonly -modcacherw", "GOTOOLCHAIN": "local",
           "GOMODCACHE": str(scratch / "gomod"), "GOCACHE": str(scratch / "gocache")}
    return subprocess.run(["go", "mod", "download", "-json", f"{SDK_GO}@{SDK_GO_VERSION}"],
                          cwd=module, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_committed_go_sum_pins_the_committed_sdk(tmp_path: Path) -> None:
    example = clone_checkout(tmp_path / "clone") / CA_CERTIFICATES
    gosum = (example / "go.sum").read_text(encoding="utf-8")
    with goproxy.serve() as proxy:
        proxy.publish_folder(SDK_GO, SDK_GO_VERSION, example / "sdk-go")
        got = download(example, proxy, tmp_path / "ok")
        assert got.returncode == 0, got.stdout + got.stderr
        info = json.loads(got.stdout)
        assert gosum.splitlines() == [f"{SDK_GO} {SDK_GO_VERSION} {info['Sum']}",
                                      f"{SDK_GO} {SDK_GO_VERSION}/go.mod {info['GoModSum']}"]
        assert f"/{SDK_GO}/@v/{SDK_GO_VERSION}.zip" in proxy.requests

    # one changed byte of the SDK, served at the same version, is refused by that go.sum
    sdk = example / "sdk-go" / "tpmca.go"
    sdk.write_text(sdk.read_text(encoding="utf-8").replace("certificate ", "cert "),
                   encoding="utf-8")
    with goproxy.serve() as proxy:
        proxy.publish_folder(SDK_GO, SDK_GO_VERSION, example / "sdk-go")
        bad = download(example, proxy, tmp_path / "bad")
        assert bad.returncode != 0
        assert "checksum mismatch" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
    assert (example / "go.sum").read_text(encoding="utf-8") == gosum
