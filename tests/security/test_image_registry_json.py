"""JSON from a registry we cannot use: nested deeper than the parser goes, a lone
surrogate, a number beyond a float. ``release verify oci://`` reports the referrer (or
the list) as malformed; the sign stage refuses to rewrite another tool's index holding it
and says why. Never an internal error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.test_sign_images import NO_TLS
from tests.security.hostile_registry import (
    INDEX,
    MANIFEST,
    HostileRegistry,
    hostile,
    key_bundle,
    send,
    statement,
)
from tests.security.test_image_referrers import _planned_digest, _put_manifest

#: What Python's json cannot hand on: too deep, a lone surrogate, 1e400 (inf), NaN.
POISON = {"deep": b"[" * 100_000 + b"]" * 100_000, "surrogate": b'"\\ud800"',
          "huge-number": b"1e400", "nan": b"NaN"}


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


def _poisoned(poison: bytes, entries: list[dict[str, object]]) -> bytes:
    listed = json.dumps(entries).encode()
    return (b'{"schemaVersion":2,"mediaType":"%s","manifests":%s,"x":%s}'
            % (INDEX.encode(), listed, poison))


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
def test_verify_reports_a_poisoned_referrers_list(reg: HostileRegistry, make_key, cli,
                                                  poison: bytes) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    entry = reg.refer(image, key_bundle(key.private, statement(image[0])))
    page = _poisoned(poison, [entry])

    def serve(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if "/referrers/" in path:
            send(req, 200, page)
            return True
        return False

    reg.hooks.append(serve)
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 1, out.out + out.err
    assert "FAIL" in out.out and "is malformed" in out.out, out.out
    assert "internal error" not in out.err and "Traceback" not in out.err


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
@pytest.mark.parametrize("where", ["manifest", "bundle", "statement"])
def test_verify_reports_a_poisoned_referrer_and_keeps_the_good_one(
        reg: HostileRegistry, make_key, cli, poison: bytes, where: str) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(key.private, statement(image[0])))
    if where == "manifest":
        data = b'{"subject":{"digest":"%s"},"x":%s}' % (image[0].encode(), poison)
        digest = reg.add_manifest(data)
        reg.listed[image[0]] = [*_listed(reg, image[0]), {
            "mediaType": MANIFEST, "digest": digest, "size": len(data),
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]
    elif where == "bundle":
        reg.refer(image, b'{"mediaType":"x","x":%s}' % poison)
    else:
        doc = statement(image[0])
        doc["predicate"] = {"x": "POISON"}
        bundle = _statement_bundle(key.private, doc, poison)
        reg.refer(image, bundle)
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert "internal error" not in out.err and "Traceback" not in out.err, out.err
    assert "PASS  signature" in out.out, out.out
    assert "FAIL" in out.out, out.out
    assert out.code == 1


def _listed(reg: HostileRegistry, subject: str) -> list[dict[str, object]]:
    found = []
    for digest, (data, kind) in sorted(reg.manifests.items()):
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            continue
        if isinstance(doc, dict) and (doc.get("subject") or {}).get("digest") == subject \
                and "artifactType" in doc:
            found.append({"mediaType": kind, "digest": digest, "size": len(data),
                          "artifactType": doc["artifactType"],
                          "annotations": doc.get("annotations", {})})
    return found


def _statement_bundle(private: Path, doc: dict[str, object], poison: bytes) -> bytes:
    """A correctly signed bundle whose signed statement carries ``poison``."""
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from release.signing.dsse import pae

    payload = json.dumps(doc).encode().replace(b'"POISON"', poison)
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    sig = key.sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
    return json.dumps({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}},
        "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
                         "payload": base64.b64encode(payload).decode(),
                         "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]},
    }).encode()


@pytest.mark.parametrize("poison", [POISON["deep"][:6000] + POISON["deep"][-6000:],
                                    POISON["surrogate"], POISON["huge-number"]],
                         ids=["deep", "surrogate", "huge-number"])
def test_the_sign_stage_refuses_to_rewrite_a_poisoned_index(repo: Repo, cli, tmp_path: Path,
                                                            registry: LocalRegistry,
                                                            make_key, poison: bytes) -> None:
    """Another tool left an index the registry accepts and we cannot write back as it
    was: the stage fails with a clear message and leaves the index alone."""
    key = make_key(passphrase=None)
    name = f"poisoned-{len(poison)}"
    path, digest = _planned_digest(repo, cli, tmp_path, registry, name, key.private)
    tag = digest.replace(":", "-")
    theirs = _poisoned(poison, [])
    _put_manifest(f"http://{registry.host}/v2/example/{name}", tag, theirs, INDEX)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1, res.out + res.err
    assert "internal error" not in res.err and "Traceback" not in res.err, res.err
    assert f"tag {tag} of {registry.host}/example/{name} holds a {INDEX} that is not a " \
           "referrers index (not JSON we can rewrite:" in res.err, res.err
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry.host}/example/{name}:{tag}")
    assert raw.encode() == theirs



def test_a_registry_error_message_is_escaped_at_the_source(reg: HostileRegistry) -> None:
    """A registry's own error words are kept in the error (they say what went wrong), but
    their control characters are escaped where they are read, so no stage failure, log
    or report can carry a terminal escape or a forged line from the registry."""
    from release.errors import ReleaseError
    from release.oci.registry import Registry

    image = reg.image()
    words = json.dumps({"errors": [{"code": "DENIED",
                                    "message": "no\x1b[2J\nPASS forged"}]}).encode()

    def refuse(req: BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if "/manifests/" in path:
            send(req, 403, words, kind="application/json")
            return True
        return False

    reg.hooks.append(refuse)
    with Registry(reg.host, "example/x") as client, pytest.raises(ReleaseError) as exc:
        client.get_manifest(image[0])
    assert "DENIED no\\x1b[2J\\nPASS forged" in exc.value.message, exc.value.message
