"""Signing pushed images in a real registry (docker-registry on loopback, which has no
referrers API): the bundle is a referrer listed under the ``sha256-<hex>`` tag, read back
by skopeo and verified by sigstore-python's CLI (keyless) or openssl (key)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import Repo, git
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import image_digest, image_pipeline, run_manifest
from tests.signing.conftest import openssl
from tests.sigstore_stack import GITHUB_ISSUER, SigstoreStack, github_claims

NO_TLS = "--tls-verify=false"
REPOSITORY = "example/tool"
TAG = "v1.2.3"
TOKEN_VAR = "IMAGE_SIGSTORE_TOKEN"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
WORKFLOW_URI = f"https://github.com/{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG}"


def push_key(registry: LocalRegistry, name: str) -> str:
    return f"""\
    push:
      repository: {registry.host}/example/{name}
      tags: ["{{version}}"]
"""


def keyless_sign(stack: SigstoreStack) -> str:
    return f"""\
  sign:
    kind: sign
    needs: [image]
    artifacts: images
    trust-config: {stack.trust_config}
    identity-token-env: {TOKEN_VAR}
"""


def key_sign(key: Path) -> str:
    return f"""\
  sign:
    kind: sign
    needs: [image]
    artifacts: images
    backend: key
    key: {key}
"""


def signed_image(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, name: str,
                 sign: str, monkeypatch, stack: SigstoreStack | None = None) -> Path:
    path = image_pipeline(repo, push=push_key(registry, name), extra=sign)
    repo.tag(TAG)
    if stack is not None:
        commit = git(repo.path, "rev-parse", "HEAD")
        claims = github_claims(REPOSITORY, f"refs/tags/{TAG}", sha=commit)
        monkeypatch.setenv(TOKEN_VAR, stack.make_token(claims))
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    return out


def referrers(registry: LocalRegistry, name: str, digest: str) -> dict[str, Any]:
    """The referrers index under the tag schema's tag, as skopeo reads it."""
    tag = digest.replace(":", "-")
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry.host}/example/{name}:{tag}")
    data: dict[str, Any] = json.loads(raw)
    return data


def stored_bundle(registry: LocalRegistry, name: str, digest: str) -> tuple[dict[str, Any],
                                                                            bytes]:
    """The one bundle referrer of the image: its manifest and the bundle bytes."""
    index = referrers(registry, name, digest)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    [entry] = index["manifests"]
    assert entry["artifactType"] == BUNDLE_TYPE
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == \
        "https://sigstore.dev/cosign/sign/v1"
    where = f"docker://{registry.host}/example/{name}@{entry['digest']}"
    raw = skopeo("inspect", NO_TLS, "--raw", where)
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == entry["digest"]
    manifest = json.loads(raw)
    assert manifest["artifactType"] == BUNDLE_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["subject"]["digest"] == digest
    assert manifest["annotations"] == entry["annotations"]
    [layer] = manifest["layers"]
    # skopeo has no command printing one blob: read it from the registry's blob URL
    url = f"http://{registry.host}/v2/example/{name}/blobs/{layer['digest']}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        data = resp.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
    return manifest, data


def test_keyless_image_signature_verifies_with_sigstore_python(
        repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, sigstore_stack,
        monkeypatch) -> None:
    out = signed_image(repo, cli, tmp_path, registry, "keyless", keyless_sign(sigstore_stack),
                       monkeypatch, sigstore_stack)
    digest = image_digest(out)
    _, bundle = stored_bundle(registry, "keyless", digest)
    assert bundle == (out / "sign" / "image.oci.tar.sigstore.json").read_bytes()
    statement = json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest[7:]]
    (tmp_path / "bundle.json").write_bytes(bundle)
    args = [sys.executable, "-m", "sigstore", "--trust-config", str(sigstore_stack.trust_config),
            "verify", "identity", "--offline", "--bundle", str(tmp_path / "bundle.json"),
            "--cert-identity", WORKFLOW_URI, "--cert-oidc-issuer", GITHUB_ISSUER]
    ok = subprocess.run([*args, digest], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    other = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    bad = subprocess.run([*args, other], capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    [art] = [a for a in run_manifest(out)["artifacts"] if a["stage"] == "sign"]
    assert art["annotations"]["signing.image"] == f"{registry.host}/example/keyless@{digest}"
    assert art["annotations"]["signing.referrer-via"] == digest.replace(":", "-")


def test_key_image_signature_verifies_with_openssl(repo: Repo, cli, tmp_path: Path,
                                                   registry: LocalRegistry, make_key,
                                                   monkeypatch) -> None:
    key = make_key(passphrase=None)
    out = signed_image(repo, cli, tmp_path, registry, "keyed", key_sign(key.private),
                       monkeypatch)
    digest = image_digest(out)
    _, bundle = stored_bundle(registry, "keyed", digest)
    data = json.loads(bundle)
    assert data["mediaType"] == BUNDLE_TYPE
    assert set(data["verificationMaterial"]) == {"publicKey"}
    envelope = data["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    assert json.loads(payload)["subject"][0]["digest"]["sha256"] == digest[7:]
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    (tmp_path / "pae").write_bytes(pae)
    (tmp_path / "sig").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    ok = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature",
                 str(tmp_path / "sig"), str(tmp_path / "pae"))
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "pae").write_bytes(pae.replace(digest[7:].encode(), b"0" * 64))
    bad = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature",
                  str(tmp_path / "sig"), str(tmp_path / "pae"))
    assert bad.returncode != 0


def test_plan_names_the_registry_and_the_fallback_tag(repo: Repo, cli, tmp_path: Path,
                                                     registry: LocalRegistry,
                                                     make_key) -> None:
    key = make_key(passphrase=None)
    path = image_pipeline(repo, push=push_key(registry, "planned"), extra=key_sign(key.private))
    repo.tag(TAG)
    res = cli("run", path, "--out", tmp_path / "dry", "--dry-run")
    assert res.code == 0, res.out + res.err
    digest = image_digest(tmp_path / "dry")
    assert (f"would sign {registry.host}/example/planned@{digest} and store the bundle as a "
            f"referrer at {registry.host} (tag fallback {digest.replace(':', '-')})"
            in res.out + res.err)


def test_two_unordered_referrer_writers_are_refused(repo: Repo, cli, registry: LocalRegistry,
                                                     make_key) -> None:
    """Without the referrers API the index is updated by read-modify-write: two stages
    doing it at once for one image could drop an entry, so they must be ordered."""
    key = make_key(passphrase=None)
    attest = (f"  provenance:\n    kind: attest\n    needs: [image]\n"
              f"    push-to-registry: true\n    backend: key\n    key: {key.private}\n")
    path = image_pipeline(repo, push=push_key(registry, "unordered"),
                          extra=key_sign(key.private) + attest)
    res = cli("plan", path)
    assert res.code == 2
    assert "stages 'sign' and 'provenance' both store referrers of the image of 'image' and " \
           "may run at once" in res.err, res.err
    assert "add 'sign' to the `needs` of 'provenance'" in res.err
