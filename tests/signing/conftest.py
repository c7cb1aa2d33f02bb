"""Fixtures for signing tests: the local Sigstore stack, openssl keys, a release repository."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

REPOSITORY = "owner/repo"
TAG = "v1.0.0"
PASSPHRASE = "correct horse battery staple"


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    passphrase: str | None


@pytest.fixture
def make_key(tmp_path: Path) -> Callable[..., KeyPair]:
    """An ECDSA key made by openssl (P-256 unless told), PKCS#8, optionally encrypted."""

    def make(name: str = "release", *, curve: str = "prime256v1",
             passphrase: str | None = PASSPHRASE, algorithm: str = "EC") -> KeyPair:
        folder = tmp_path / "keys"
        folder.mkdir(exist_ok=True)
        private, public = folder / f"{name}.key", folder / f"{name}.pub"
        opts = ["-pkeyopt", f"ec_paramgen_curve:{curve}"] if algorithm == "EC" else [
            "-pkeyopt", "rsa_keygen_bits:2048"]
        enc = ["-aes-256-cbc", "-pass", f"pass:{passphrase}"] if passphrase else []
        made = openssl("genpkey", "-algorithm", algorithm, *opts, *enc, "-out", str(private))
        assert made.returncode == 0, made.stderr
        passin = ["-passin", f"pass:{passphrase}"] if passphrase else []
        pub = openssl("pkey", "-in", str(private), *passin, "-pubout", "-out", str(public))
        assert pub.returncode == 0, pub.stderr
        return KeyPair(private, public, passphrase)

    return make


def release_repo(repo: Repo, stages: str, *, tag: str = TAG) -> Path:
    """A committed, tagged repository whose pipeline builds two files, checksums them,
    then runs ``stages`` (YAML of further stage entries, starting at column 0)."""
    head = textwrap.dedent(f"""\
        version: 1
        name: demo
        source:
          repository: {REPOSITORY}
        stages:
          build:
            kind: command
            run: ["sh", "-c", "printf tool-v1 > {{out}}/tool && printf data > {{out}}/data.bin"]
            outputs: ["tool", "data.bin"]
          checksums:
            kind: checksums
            needs: [build]
        """)
    path = repo.path / "release.yml"
    path.write_text(head + textwrap.indent(textwrap.dedent(stages), "  "), encoding="utf-8")
    repo.commit("release pipeline")
    repo.tag(tag)
    return path
