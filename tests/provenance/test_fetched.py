"""resolvedDependencies from what stages fetched: command locks, python-dist wheels."""

from __future__ import annotations

from release.engine.manifest import Artifact
from release.provenance.fetched import fetched_inputs

LOCK = "a" * 64
WHEEL = "b" * 64


def _art(stage: str, name: str, notes: dict[str, str]) -> Artifact:
    return Artifact(name, "binary", stage, f"{stage}/{name}", 1, "c" * 64, notes)


def test_locks_and_fetched_files_become_descriptors_once_each() -> None:
    arts = [_art("web", "app.js", {"lock:package-lock.json": LOCK}),
            _art("web", "app.css", {"lock:package-lock.json": LOCK}),
            _art("sdk", "x.whl", {"name": "x", "version": "1",
                                  "fetched:pkg:pypi/flit-core@3.12.0": WHEEL})]
    assert fetched_inputs(arts) == [
        {"uri": "pkg:pypi/flit-core@3.12.0", "digest": {"sha256": WHEEL},
         "annotations": {"stage": "sdk", "role": "fetched"}},
        {"name": "package-lock.json", "digest": {"sha256": LOCK},
         "annotations": {"stage": "web", "role": "lock"}},
    ]


def test_other_annotations_and_malformed_digests_are_not_dependencies() -> None:
    arts = [_art("web", "a", {"lock:x": "not-a-digest", "lock:": LOCK, "oci.digest": LOCK})]
    assert fetched_inputs(arts) == []


def test_descriptors_pass_the_statement_checks() -> None:
    from release.provenance.slsa import _descriptor
    for item in fetched_inputs([_art("web", "a", {"lock:go.sum": LOCK})]):
        assert _descriptor(item) == item


def test_the_signed_provenance_lists_the_wheels_python_dist_fetched(repo, cli, tmp_path) -> None:
    """End to end: python-dist fetches its pinned build backend; the attest stage's
    statement lists that wheel, by package URL and sha256, under resolvedDependencies."""
    import base64
    import json
    import shutil
    import subprocess
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "assets" / "flit-sample"
    shutil.copytree(sample, repo.path, dirs_exist_ok=True)
    key = tmp_path / "key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", str(key)], check=True)
    path = repo.write("release.yaml", f"""\
        version: 1
        name: sample
        stages:
          sdk:
            kind: python-dist
            build-requirements: build-requirements.txt
          provenance:
            kind: attest
            needs: [sdk]
            backend: key
            key: {key}
        """)
    repo.commit()
    repo.tag("v1.2.3")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    envelope = json.loads((out / "provenance" / "sample.intoto.jsonl").read_text()
                          .splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    wheels = [d for d in deps if d.get("uri", "").startswith("pkg:pypi/flit-core@")]
    assert len(wheels) == 1, deps
    assert len(wheels[0]["digest"]["sha256"]) == 64
