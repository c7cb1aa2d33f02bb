"""``release verify oci://`` applies every policy option a folder's verification does, or
refuses it: a key-signed provenance must name ``--repository`` and ``--commit`` (which,
with ``--key``, require it), ``--predicate-type`` names the provenance required, and
misuse (two trust roots, a missing one, a bad port, no tag or digest, options that only
apply to a folder) is a usage error. The keyless policy (``--deny-self-hosted-runners``,
the provenance's workflow) runs against the local Sigstore stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo, git
from tests.oci.conftest import LocalRegistry
from tests.oci.images import image_digest, image_pipeline
from tests.oci.test_sign_images import REPOSITORY, TAG, TOKEN_VAR, keyless_sign, push_key
from tests.security.hostile_registry import (
    SLSA,
    HostileRegistry,
    hostile,
    key_bundle,
    provenance,
    statement,
)
from tests.sigstore_stack import github_claims

COMMIT = "1" * 40
OTHER = "2" * 40


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


def _image(reg: HostileRegistry, private: Path, repository: str | None = "octo/demo",
           commit: str = COMMIT, predicate: str = SLSA) -> str:
    """An image with a key signature and, unless ``repository`` is None, provenance."""
    image = reg.image()
    reg.refer(image, key_bundle(private, statement(image[0])))
    if repository is not None:
        reg.refer(image, key_bundle(private, statement(image[0], predicate,
                                                       provenance(repository, commit))),
                  predicate)
    return reg.url(image[0])


def test_key_provenance_from_another_commit_fails(reg: HostileRegistry, make_key, cli) -> None:
    key = make_key(passphrase=None)
    url = _image(reg, key.private, commit=OTHER)
    out = cli("verify", url, "--key", key.public, "--require-provenance", "--commit", COMMIT)
    assert out.code == 1, out.out
    assert "FAIL  source" in out.out and "source commit differs from --commit" in out.out
    assert "FAIL  provenance" in out.out  # the only provenance did not count
    good = cli("verify", url, "--key", key.public, "--require-provenance", "--commit", OTHER)
    assert good.code == 0, good.out + good.err
    assert "PASS  source" in good.out


def test_key_provenance_from_another_repository_fails(reg: HostileRegistry, make_key,
                                                      cli) -> None:
    key = make_key(passphrase=None)
    url = _image(reg, key.private, repository="evil/other")
    out = cli("verify", url, "--key", key.public, "--repository", "octo/demo", "--tag", "v1",
              "--commit", COMMIT)
    assert out.code == 1, out.out
    assert "FAIL  source" in out.out and "built from another repository" in out.out


def test_key_commit_needs_a_provenance(reg: HostileRegistry, make_key, cli) -> None:
    """With a key nothing but the provenance names a commit: --commit requires one."""
    key = make_key(passphrase=None)
    url = _image(reg, key.private, repository=None)
    plain = cli("verify", url, "--key", key.public)
    assert plain.code == 0, plain.out
    bound = cli("verify", url, "--key", key.public, "--commit", COMMIT)
    assert bound.code == 1, bound.out
    assert "FAIL  provenance" in bound.out and "--key with --commit or --repository" \
        in bound.out


def test_predicate_type_names_the_provenance_required(reg: HostileRegistry, make_key,
                                                      cli) -> None:
    key = make_key(passphrase=None)
    custom = "https://example.com/provenance/v1"
    slsa_only = _image(reg, key.private)
    out = cli("verify", slsa_only, "--key", key.public, "--require-provenance",
              "--predicate-type", custom)
    assert out.code == 1, out.out
    assert "FAIL  provenance" in out.out and f"expected: {custom}" in out.out
    with_custom = _image(reg, key.private, predicate=custom)
    ok = cli("verify", with_custom, "--key", key.public, "--require-provenance",
             "--predicate-type", custom, "--commit", COMMIT)
    assert ok.code == 0, ok.out + ok.err


@pytest.mark.parametrize(("args", "message"), [
    (["--trusted-root", "{root}", "--staging", "--repository", "o/n", "--tag", "v1"],
     "--trusted-root and --staging both name a trust root"),
    (["--trusted-root", "{missing}", "--repository", "o/n", "--tag", "v1"],
     "is not a file"),
    (["--key", "{key}", "--deny-self-hosted-runners"],
     "--deny-self-hosted-runners checks Sigstore certificates"),
    (["--key", "{key}", "--ignore", "*.txt"], "--ignore leaves out files of a folder"),
    (["--key", "{key}", "--predicate-type", "not a uri"], "is not a URI"),
])
def test_options_that_cannot_apply_are_refused(reg: HostileRegistry, make_key, cli,
                                               tmp_path: Path, args: list[str],
                                               message: str) -> None:
    key = make_key(passphrase=None)
    url = _image(reg, key.private)
    root = tmp_path / "root.json"
    root.write_text("{}")
    filled = [a.format(root=root, missing=tmp_path / "nope.json", key=key.public)
              for a in args]
    out = cli("verify", url, *filled)
    assert out.code == 2, out.out + out.err
    assert message in out.err, out.err
    assert reg.requests == []  # refused before asking the registry anything


@pytest.mark.parametrize(("target", "message"), [
    ("oci://127.0.0.1:99999/x@sha256:" + "a" * 64, "has no valid port"),
    ("oci://127.0.0.1:0/x@sha256:" + "a" * 64, "has no valid port"),
    ("oci://127.0.0.1:1/example/x", "names neither a digest nor a tag"),
])
def test_a_bad_image_name_is_a_usage_error(make_key, cli, target: str, message: str) -> None:
    key = make_key(passphrase=None)
    out = cli("verify", target, "--key", key.public)
    assert out.code == 2, out.out + out.err
    assert message in out.err and "Traceback" not in out.err


def test_self_hosted_runner_signatures_fail_when_denied(repo: Repo, cli, tmp_path: Path,
                                                        registry: LocalRegistry,
                                                        sigstore_stack, monkeypatch) -> None:
    """Our workflow signed on a self-hosted runner: it passes, and fails (not skipped:
    it is our identity) with --deny-self-hosted-runners."""
    path = image_pipeline(repo, push=push_key(registry, "selfhosted"),
                          extra=keyless_sign(sigstore_stack))
    repo.tag(TAG)
    claims = github_claims(REPOSITORY, f"refs/tags/{TAG}", sha=git(repo.path, "rev-parse",
                                                                   "HEAD"))
    claims["runner_environment"] = "self-hosted"
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token(claims))
    run = cli("run", path, "--out", tmp_path / "out")
    assert run.code == 0, run.out + run.err
    image = f"oci://{registry.host}/example/selfhosted@{image_digest(tmp_path / 'out')}"
    args = ("--repository", REPOSITORY, "--tag", TAG, "--trusted-root",
            sigstore_stack.trusted_root)
    assert cli("verify", image, *args).code == 0
    denied = cli("verify", image, *args, "--deny-self-hosted-runners")
    assert denied.code == 1, denied.out
    assert "FAIL  bundle" in denied.out and "self-hosted runners are denied" in denied.out


@pytest.mark.parametrize(("changed", "line"), [
    ({"workflow": "evil.yml"}, "FAIL  workflow"),
    ({"commit": OTHER}, "FAIL  source"),
    ({"repository": "mallory/tool"}, "FAIL  source"),
])
def test_keyless_provenance_is_checked_as_in_a_folder(reg: HostileRegistry, sigstore_stack,
                                                      cli, changed: dict[str, str],
                                                      line: str) -> None:
    """The release workflow signed a provenance naming another workflow, commit or
    repository than its certificate: the provenance fails, as in a folder."""
    from tests.verify.attest_kit import provenance as workflow_provenance
    from tests.verify.attest_kit import run_claims, sign

    image = reg.image()
    subjects = {"example/x": image[0].split(":")[1]}
    facts = {"repository": REPOSITORY, "tag": TAG, "commit": COMMIT}
    signature, good, bad = sign(sigstore_stack, run_claims(REPOSITORY, TAG, COMMIT),
                                statement(image[0]),
                                workflow_provenance(subjects, **facts),
                                workflow_provenance(subjects, **{**facts, **changed}))
    reg.refer(image, json.dumps(signature).encode())
    for bundle in (good, bad):
        reg.refer(image, json.dumps(bundle).encode(), SLSA)
    out = cli("verify", reg.url(image[0]), "--repository", REPOSITORY, "--tag", TAG,
              "--trusted-root", sigstore_stack.trusted_root, "--require-provenance")
    assert out.code == 1, out.out
    assert line in out.out, out.out
    assert "PASS  provenance" in out.out and "PASS  signature" in out.out


def test_another_identitys_keyless_bundle_is_skipped(reg: HostileRegistry, sigstore_stack,
                                                     cli) -> None:
    from tests.verify.attest_kit import run_claims, sign

    image = reg.image()
    [theirs] = sign(sigstore_stack, run_claims("mallory/tool", TAG, COMMIT),
                    statement(image[0]))
    [ours] = sign(sigstore_stack, run_claims(REPOSITORY, TAG, COMMIT), statement(image[0]))
    reg.refer(image, json.dumps(theirs).encode())
    reg.refer(image, json.dumps(ours).encode())
    out = cli("verify", reg.url(image[0]), "--repository", REPOSITORY, "--tag", TAG,
              "--trusted-root", sigstore_stack.trusted_root)
    assert out.code == 0, out.out
    assert "SKIP  bundle" in out.out and "signed by another identity" in out.out
