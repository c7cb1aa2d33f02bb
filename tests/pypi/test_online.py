"""Against the real PyPI: what no loopback server can show (PyPI's own trust root and
publisher records). Skipped unless RELEASE_ONLINE_TESTS=1."""

from __future__ import annotations

import pytest


@pytest.mark.online
def test_verify_a_release_pypi_attested(cli, tmp_path):
    # pypa/sampleproject publishes with trusted publishing and PEP 740 attestations from
    # its release.yml workflow; this needs pypi.org and Sigstore's TUF repository
    result = cli("verify", "--pypi", "sampleproject==4.0.0", "--repository",
                 "pypa/sampleproject", "--workflow", "release.yml", tmp_path / "files")
    assert result.code == 0, result.out + result.err
    assert "PASS  attestation" in result.out
