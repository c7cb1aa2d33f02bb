"""One key signs files (``F.sig``) and statements (DSSE): a hostile build must not turn the
first into the second. Both are ECDSA over SHA-256 of the signed bytes, so a file whose
bytes are a DSSE signing input would make its ``.sig`` a valid signature over a statement
the build chose (say, one that vouches for an ``install.sh`` nobody released)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

from release.provenance.slsa import PAYLOAD_TYPE
from release.signing.dsse import pae
from tests.signing.conftest import make_key, release_repo  # noqa: F401 - a fixture
from tests.signing.test_key import key_stages

EVIL = b"#!/bin/sh\necho pwned\n"
STATEMENT = json.dumps({
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "install.sh", "digest": {"sha256": hashlib.sha256(EVIL).hexdigest()}}],
    "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}},
    separators=(",", ":")).encode()


def test_a_file_shaped_like_a_dsse_input_is_never_signed(repo, cli, make_key, tmp_path):  # noqa: F811
    key = make_key(passphrase=None)
    stages = key_stages(key.private, passphrase=False).replace(
        "  backend: key", "  artifacts: all\n  backend: key").replace(
        "needs: [checksums]", "needs: [build, checksums]")
    pipeline = release_repo(repo, stages)
    (repo.path / "forged.bin").write_bytes(pae(PAYLOAD_TYPE, STATEMENT))
    text = pipeline.read_text().replace("printf data > {out}/data.bin",
                                        "cp forged.bin {out}/data.bin")
    pipeline.write_text(text)
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 1
    assert "data.bin starts as a DSSE signing input" in res.out + res.err
    assert not (tmp_path / "out" / "sign" / "data.bin.sig").exists()


def test_verify_refuses_a_signature_over_a_dsse_shaped_file(cli, make_key, tmp_path):  # noqa: F811
    """A release signed elsewhere (or before this fix) holding such a file and its key
    signature: the signature is not accepted. (A statement signed that way cannot be told
    apart from a real one once the file is gone: the fix is never to sign such a file.)"""
    key = make_key(passphrase=None)
    rel = tmp_path / "rel"
    rel.mkdir()
    forged = pae(PAYLOAD_TYPE, STATEMENT)
    (rel / "data.bin").write_bytes(forged)
    sums = f"{hashlib.sha256(forged).hexdigest()}  data.bin\n".encode()
    (rel / "SHA256SUMS").write_bytes(sums)
    for name, data in (("data.bin.sig", forged), ("SHA256SUMS.sig", sums)):
        (rel / name).write_bytes(subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(key.private)], input=data,
            capture_output=True, check=True).stdout)
    pub = tmp_path / "release.pub"
    shutil.copy(key.public, pub)
    res = cli("verify", rel, "--key", pub)
    assert res.code == 1, res.out + res.err
    assert "data.bin is shaped like a DSSE signing input" in res.out
    assert "NOT verified" in res.out
