"""A key (or a Sigstore identity) that signs files and images must not let a build turn
the first into the second: cosign 2 verifies an image signature (``sha256-<hex>.sig``) as
a signature over a simple-signing payload naming the image, exactly what a file
signature over a build output holding that payload would be. Such a file is never
signed, however Go's JSON decoder would still read it as one; the ``.sig`` layout's own
payload is built by the signer, not read from a file (tests/oci/test_legacy_cosign.py
checks it is still written and verifies)."""

from __future__ import annotations

import pytest

from release.oci.legacy_cosign import simple_signing_payload
from tests.signing.conftest import make_key, release_repo  # noqa: F401 - a fixture
from tests.signing.test_key import key_stages

IMAGE = "ghcr.io/victim/app"
DIGEST = "sha256:" + "ab" * 32
PAYLOAD = simple_signing_payload(IMAGE, DIGEST)

#: What Go's encoding/json reads as the same payload: names match case-insensitively
#: (with Unicode folding), invalid UTF-8 is replaced, whitespace may lead.
VARIANTS = {
    "canonical": PAYLOAD,
    "leading-space": b"\n  " + PAYLOAD,
    "upper-case": PAYLOAD.replace(b'"critical"', b'"CRITICAL"'),
    "dotless-i": PAYLOAD.replace(b'"critical"', '"cr\u0131t\u0131cal"'.encode()),
    "invalid-utf8": PAYLOAD.replace(b'"optional":null', b'"optional":{"x":"\xff"}'),
}


@pytest.mark.parametrize("payload", VARIANTS.values(), ids=VARIANTS.keys())
def test_a_build_output_that_is_a_cosign_payload_is_never_signed(repo, cli, make_key,  # noqa: F811
                                                                  tmp_path, payload: bytes):
    key = make_key(passphrase=None)
    stages = key_stages(key.private, passphrase=False).replace(
        "  backend: key", "  artifacts: all\n  backend: key").replace(
        "needs: [checksums]", "needs: [build, checksums]")
    pipeline = release_repo(repo, stages)
    (repo.path / "forged.bin").write_bytes(payload)
    pipeline.write_text(pipeline.read_text().replace("printf data > {out}/data.bin",
                                                     "cp forged.bin {out}/data.bin"))
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 1, res.out + res.err
    assert "data.bin is a cosign simple-signing payload" in res.out + res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "out" / "sign" / "data.bin.sig").exists()


def test_other_json_build_outputs_are_still_signed(repo, cli, make_key, tmp_path):  # noqa: F811
    key = make_key(passphrase=None)
    stages = key_stages(key.private, passphrase=False).replace(
        "  backend: key", "  artifacts: all\n  backend: key").replace(
        "needs: [checksums]", "needs: [build, checksums]")
    pipeline = release_repo(repo, stages)
    (repo.path / "forged.bin").write_bytes(b'{"name": "sbom", "critical_path": []}')
    pipeline.write_text(pipeline.read_text().replace("printf data > {out}/data.bin",
                                                     "cp forged.bin {out}/data.bin"))
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 0, res.out + res.err
