"""Pipelines the OCI tests build: a `command` stage makes a tool and a PEM file."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from tests.conftest import Repo

#: A small executable and a PEM-shaped file, written by the build stage.
BUILD = """\
  build:
    kind: command
    run: ["sh", "-c", "printf '#!/bin/sh\\\\necho tool {marker}\\\\n' > {{out}}/tool
          && chmod +x {{out}}/tool && cp ca.pem {{out}}/ca.pem"]
    outputs: ["tool", "ca.pem"]
"""
PEM = """\
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUJ0ZbU0wZCbMqFq0X5m8yN8m4bYkwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
"""
IMAGE = """\
  image:
    kind: oci-image
    needs: [build]
    base: {base}
    platforms: {platforms}
    files:
      tool: /usr/local/bin/tool
      ca.pem: {{path: /etc/ssl/certs/ca.pem, mode: "0444"}}
    config:
      entrypoint: [/usr/local/bin/tool]
      env: {{SSL_CERT_FILE: /etc/ssl/certs/ca.pem}}
      user: "65532:65532"
      labels: {{org.opencontainers.image.title: tool}}
{push}"""


def image_pipeline(repo: Repo, *, marker: str = "1", base: str = "scratch",
                   platforms: str = "[linux/amd64]", push: str = "", extra: str = "") -> Path:
    """Write and commit a pipeline that builds ``tool`` and ``ca.pem`` into an image."""
    repo.write("ca.pem", PEM)
    text = ("version: 1\nname: tool\nsource:\n  repository: example/tool\nstages:\n"
            + BUILD.format(marker=marker)
            + IMAGE.format(base=base, platforms=platforms, push=push) + extra)
    path = repo.path / "release.yaml"
    path.write_text(text, encoding="utf-8")
    repo.commit()
    return path


def run_manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


def image_digest(out: Path, stage: str = "image") -> str:
    """The digest the run recorded for the image artifact of ``stage``."""
    [art] = [a for a in run_manifest(out)["artifacts"] if a["stage"] == stage]
    digest: str = art["annotations"]["org.opencontainers.image.digest"]
    return digest


def layout_file(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def blob(archive: Path, digest: str) -> bytes:
    return layout_file(archive, "blobs/sha256/" + digest.removeprefix("sha256:"))
