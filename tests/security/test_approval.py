"""An approval binds everything the release will do, not only the artifacts' bytes.

The red team's attacks on ``release run --approved-plan review.json``, black-box through
the CLI against the loopback GitHub, a real OCI registry and the real stage kinds: a
reviewer approves a dry-run, then the run is changed (another tag on the same commit, an
edited pipeline with or without ``--allow-dirty``, ``--no-sandbox``, another signing
identity or API host) or the approval is (a dirty tree, a tampered or old review.json).
Every one is refused before any stage runs and before any request leaves the machine,
naming each difference.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Repo, git
from tests.github.conftest import REPOSITORY, TAG, make_setup
from tests.github_server import GitHubServer, github_server  # noqa: F401  (fixture)
from tests.oci.conftest import LocalRegistry, registry, skopeo  # noqa: F401  (fixture)
from tests.oci.images import image_pipeline

Cli = Callable[..., CliResult]

#: build -> checksums -> publish, with every release setting a reviewer reads.
PIPELINE = f"""\
version: 1
name: demo
source:
  repository: {REPOSITORY}
stages:
  build:
    kind: command
    run: ["sh", "-c", "printf 'tool 1.0' > {{out}}/tool-linux-amd64"]
    outputs: ["tool-linux-amd64"]
  checksums:
    kind: checksums
    needs: [build]
  publish:
    kind: github-release
    needs: [build, checksums]
    title: "Demo 1.0"
    notes: NOTES.md
"""
NOT_APPROVED = "refused: this run differs from the approved plan review.json"


@dataclass
class Approved:
    """A tagged repository, its reviewed dry-run, and the loopback GitHub."""

    repo: Repo
    server: GitHubServer
    commit: str
    pipeline: Path
    review: Path
    tmp: Path

    def run(self, cli: Cli, *extra: str | Path, pipeline: Path | None = None) -> CliResult:
        return cli("run", pipeline or self.pipeline, "--out", self.tmp / "out",
                   "--approved-plan", self.review, *extra, cwd=self.repo.path)

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.review.read_text(encoding="utf-8"))
        return loaded

    def tamper(self, change: Callable[[dict[str, Any]], object]) -> None:
        data = self.data()
        change(data)
        self.review.write_text(json.dumps(data), encoding="utf-8")

    def untouched(self) -> None:
        """Nothing reached GitHub: not a read, let alone a release."""
        assert self.server.requests == []
        assert all(not self.server.releases(r) for r in self.server.repos)


@pytest.fixture
def approved(repo: Repo, github_server: GitHubServer,  # noqa: F811
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Approved:
    repo.write("NOTES.md", "The reviewed notes.\n")
    repo.write("OTHER.md", "Notes nobody reviewed.\n")
    setup = make_setup(repo, github_server, tmp_path, monkeypatch, PIPELINE)
    github_server.add_repo("octo/other")
    github_server.set_tag("octo/other", TAG, setup.commit)
    review = tmp_path / "review.json"
    res = cli("run", setup.pipeline, "--out", tmp_path / "dry", "--dry-run", "--report",
              review, "--report", tmp_path / "review.md", cwd=repo.path)
    assert res.code == 0, res.out + res.err
    monkeypatch.setenv("GITHUB_TOKEN", github_server.add_token(
        "actions", permissions={"contents": "write"}, repositories=(REPOSITORY, "octo/other")))
    return Approved(repo, github_server, setup.commit, setup.pipeline, review, tmp_path)


def refused(res: CliResult, *differences: str) -> None:
    """Refused at the start (exit 1, no stage ran), naming each difference."""
    assert res.code == 1, res.out + res.err
    assert NOT_APPROVED in res.err, res.err
    assert "Traceback" not in res.err
    assert res.out == ""  # no summary: no stage ran
    for difference in differences:
        assert difference in res.err, res.err


# -- the approval works ---------------------------------------------------------------
def test_the_approved_release_is_published(approved: Approved, cli: Cli) -> None:
    res = approved.run(cli)
    assert res.code == 0, res.out + res.err
    [release] = approved.server.releases(REPOSITORY)
    assert release.tag_name == TAG and release.name == "Demo 1.0" and not release.draft
    assert "The reviewed notes." in (release.body or "")


def test_one_approved_stage_runs_as_a_ci_job_on_the_reviewed_artifacts(
        approved: Approved, cli: Cli) -> None:
    """A CI job runs one stage on its needs' outputs: its plan and those are compared."""
    res = approved.run(cli, "--stage", "publish", "--artifacts", approved.tmp / "dry")
    assert res.code == 0, res.out + res.err
    [release] = approved.server.releases(REPOSITORY)
    assert release.name == "Demo 1.0" and not release.draft


def test_the_review_shows_what_the_approval_binds(approved: Approved) -> None:
    text = (approved.tmp / "review.md").read_text(encoding="utf-8")
    data = approved.data()
    section = text.split("## What approving this review binds", 1)[1].split("## Stages")[0]
    for fact in (f"| pipeline file | `release.yaml`, sha256 `{data['pipeline']['sha256']}` |",
                 f"| repository | `{REPOSITORY}` |", f"| tag | `{TAG}` |",
                 "| version | `1.0.0` |", f"| commit | `{approved.commit}` |",
                 "| working tree | clean |", "| sandbox | on"):
        assert fact in section, section
    assert "create a draft release" in section and "'Demo 1.0'" in section
    assert "release notes NOTES.md at" in section and "make_latest=true" in section


# -- the run is not the one reviewed --------------------------------------------------
def test_another_tag_on_the_same_commit(approved: Approved, cli: Cli,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    approved.repo.tag("v9.9.9")
    approved.server.set_tag(REPOSITORY, "v9.9.9", approved.commit)
    # the run the push of that tag starts (two matching tags at HEAD alone are refused)
    monkeypatch.setenv("GITHUB_REF", "refs/tags/v9.9.9")
    res = approved.run(cli)
    refused(res, "tag: approved v1.0.0, now v9.9.9", "version: approved 1.0.0, now 9.9.9",
            "check the tag points at the built commit")
    approved.untouched()


EDITS = {
    "repository": ("repository: octo/demo", "repository: octo/other",
                   "repository: approved octo/demo, now octo/other"),
    "title": ('title: "Demo 1.0"', 'title: "Demo 9.9"',
              "target approved v1.0.0 'Demo 1.0', now v1.0.0 'Demo 9.9'"),
    "notes": ("notes: NOTES.md", "notes: OTHER.md",
              "'release notes': target approved NOTES.md at"),
    "generated-notes": ("notes: NOTES.md", "generate-notes: true",
                        "now generated by GitHub"),
    "prerelease": ("notes: NOTES.md", "notes: NOTES.md\n    prerelease: true",
                   "now v1.0.0 'Demo 1.0' prerelease"),
    "make-latest": ("notes: NOTES.md", 'notes: NOTES.md\n    make-latest: "false"',
                    "approved v1.0.0 make_latest=true, now v1.0.0 make_latest=false"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_pipeline_next_to_the_approved_one(approved: Approved, cli: Cli,
                                                     edit: str) -> None:
    """An untracked copy leaves the tree clean: only the pipeline's digest and the plans
    tell it apart from the reviewed one."""
    old, new, difference = EDITS[edit]
    text = approved.pipeline.read_text(encoding="utf-8")
    assert old in text
    edited = approved.repo.path / "edited.yaml"
    edited.write_text(text.replace(old, new), encoding="utf-8")
    res = approved.run(cli, pipeline=edited)
    refused(res, "pipeline file: approved release.yaml (sha256 ", "now edited.yaml (sha256 ",
            difference)
    approved.untouched()


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_pipeline_with_allow_dirty(approved: Approved, cli: Cli, edit: str) -> None:
    old, new, _ = EDITS[edit]
    text = approved.pipeline.read_text(encoding="utf-8")
    approved.pipeline.write_text(text.replace(old, new), encoding="utf-8")
    res = approved.run(cli, "--allow-dirty")
    assert res.code == 2, res.out + res.err
    assert "--approved-plan cannot be combined with --allow-dirty" in res.err
    assert "hint: an approved release is built from the reviewed commit alone" in res.err
    assert res.out == ""
    approved.untouched()


def test_allow_dirty_is_refused_on_a_clean_tree_too(approved: Approved, cli: Cli) -> None:
    res = approved.run(cli, "--allow-dirty")
    assert res.code == 2 and "cannot be combined with --allow-dirty" in res.err
    approved.untouched()


def test_approved_with_the_sandbox_run_without(approved: Approved, cli: Cli) -> None:
    res = approved.run(cli, "--no-sandbox", "--no-sandbox-with-credentials")
    refused(res, "sandbox: approved true, now false (--no-sandbox)")
    approved.untouched()


def test_another_github_api_host(approved: Approved, cli: Cli,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    api = approved.server.api_url
    monkeypatch.setenv("GITHUB_API_URL", api.replace("127.0.0.1", "localhost"))
    res = approved.run(cli)
    refused(res, f"'GitHub API': target approved {api}, now http://localhost:")
    approved.untouched()


def test_a_notes_file_swapped_in_the_working_tree_is_not_what_is_published(
        approved: Approved, cli: Cli) -> None:
    """Notes are read from the commit, so an uncommitted edit cannot reach the release."""
    (approved.repo.path / "NOTES.md").write_text("Swapped.\n", encoding="utf-8")
    git(approved.repo.path, "update-index", "--assume-unchanged", "NOTES.md")
    res = approved.run(cli)
    assert res.code == 0, res.out + res.err
    [release] = approved.server.releases(REPOSITORY)
    assert "The reviewed notes." in (release.body or "") and "Swapped" not in (release.body or "")


# -- the approval is not one a reviewer could give --------------------------------------
def test_a_dry_run_of_a_dirty_tree_cannot_be_approved(approved: Approved, cli: Cli) -> None:
    readme = approved.repo.path / "NOTES.md"
    readme.write_text("uncommitted\n", encoding="utf-8")
    res = cli("run", approved.pipeline, "--out", approved.tmp / "dirty", "--dry-run",
              "--allow-dirty", "--report", approved.review, cwd=approved.repo.path)
    assert res.code == 0, res.out + res.err
    git(approved.repo.path, "checkout", "--", "NOTES.md")
    res = approved.run(cli)
    assert res.code == 2, res.out + res.err
    assert ("review.json is a dry-run with --allow-dirty of a working tree with uncommitted "
            "changes") in res.err
    assert "commit the changes, then make a new dry-run" in res.err
    approved.untouched()


def test_a_failed_dry_run_cannot_be_approved(approved: Approved, cli: Cli) -> None:
    approved.tamper(lambda d: d.update(ok=False))
    res = approved.run(cli)
    assert res.code == 2 and "is not the report of a successful dry-run" in res.err
    approved.untouched()


@pytest.mark.parametrize("path", ["pipeline.sha256", "pipeline.file", "source.tag",
                                  "source.version", "source.repository", "source.dirty",
                                  "sandbox", "allow_dirty", "bound_plans"])
def test_a_review_missing_a_bound_field_is_refused(approved: Approved, cli: Cli,
                                                   path: str) -> None:
    def drop(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        del data[last]

    approved.tamper(drop)
    res = approved.run(cli)
    assert res.code == 2, res.out + res.err
    assert f"cannot read the approved plan {approved.review}: missing field {path}" in res.err
    approved.untouched()


@pytest.mark.parametrize(("field", "value", "difference"), [
    ("commit", "0" * 40, "commit: approved " + "0" * 40 + ", now "),
    ("tag", "v9.9.9", "tag: approved v9.9.9, now v1.0.0"),
    ("repository", "octo/other", "repository: approved octo/other, now octo/demo"),
])
def test_a_review_for_another_release_is_refused(approved: Approved, cli: Cli, field: str,
                                                 value: str, difference: str) -> None:
    approved.tamper(lambda d: d["source"].update({field: value}))
    res = approved.run(cli)
    refused(res, difference)
    approved.untouched()


def test_a_review_with_another_bound_plan_is_refused(approved: Approved, cli: Cli) -> None:
    def retitle(data: dict[str, Any]) -> None:
        for step in data["bound_plans"]["publish"]["steps"]:
            step["target"] = step.get("target", "").replace("'Demo 1.0'", "'Reviewed'")

    approved.tamper(retitle)
    res = approved.run(cli)
    refused(res, "stage 'publish' (github-release): 'create a draft release",
            "target approved v1.0.0 'Reviewed', now v1.0.0 'Demo 1.0'")
    approved.untouched()


def test_an_old_format_review_is_refused(approved: Approved, cli: Cli) -> None:
    """What this release's predecessor wrote: no pipeline digest, no flags, no bound plans."""
    def downgrade(data: dict[str, Any]) -> None:
        data.update(format=1, pipeline=data["pipeline"]["name"])
        for key in ("sandbox", "allow_dirty", "bound_plans"):
            del data[key]

    approved.tamper(downgrade)
    res = approved.run(cli)
    assert res.code == 2, res.out + res.err
    assert "has review format 1; this release approves only format 2" in res.err
    assert "hint: make a new dry-run with this release" in res.err
    approved.untouched()


# -- signing identity -------------------------------------------------------------------
SIGNED = f"""\
version: 1
name: demo
source:
  repository: {REPOSITORY}
stages:
  build:
    kind: command
    run: ["sh", "-c", "printf 'tool 1.0' > {{out}}/tool"]
    outputs: ["tool"]
  checksums:
    kind: checksums
    needs: [build]
  sign:
    kind: sign
    needs: [checksums]
"""


def test_another_signing_identity(repo: Repo, cli: Cli, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = repo.write("release.yaml", SIGNED)
    repo.commit()
    repo.tag(TAG)
    reviewed = f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG}"
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", reviewed)
    review = tmp_path / "review.json"
    res = cli("run", pipeline, "--out", tmp_path / "dry", "--dry-run", "--report", review,
              cwd=repo.path)
    assert res.code == 0, res.out + res.err
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", f"{REPOSITORY}/.github/workflows/x.yml@refs/heads/x")
    res = cli("run", pipeline, "--out", tmp_path / "out", "--approved-plan", review,
              cwd=repo.path)
    refused(res, "stage 'sign' (sign): 'would sign with': identity approved "
                 f"https://github.com/{reviewed}", "now https://github.com/octo/demo/"
                                                    ".github/workflows/x.yml@refs/heads/x")
    assert not (tmp_path / "out").exists()


def test_a_trust_config_changed_in_place(repo: Repo, cli: Cli, tmp_path: Path) -> None:
    """Same path, same URLs, another trusted root: the file's digest is bound too."""
    trust = tmp_path / "trust.json"
    config = {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
              "trustedRoot": {"tlogs": []},
              "signingConfig": {"caUrls": [{"url": "https://fulcio.example"}],
                                "rekorTlogUrls": [{"url": "https://rekor.example"}]}}
    trust.write_text(json.dumps(config))
    pipeline = repo.write("release.yaml", SIGNED + f"    trust-config: {trust}\n")
    repo.commit()
    repo.tag(TAG)
    review = tmp_path / "review.json"
    res = cli("run", pipeline, "--out", tmp_path / "dry", "--dry-run", "--report", review,
              cwd=repo.path)
    assert res.code == 0, res.out + res.err
    config["trustedRoot"] = {"tlogs": [{"baseUrl": "https://rekor.attacker.example"}]}
    trust.write_text(json.dumps(config))
    res = cli("run", pipeline, "--out", tmp_path / "out", "--approved-plan", review,
              cwd=repo.path)
    assert res.code == 1, res.out + res.err
    assert "'would sign with'" in res.err and "file sha256:" in res.err
    assert not (tmp_path / "out").exists()


# -- images: tag and registry -------------------------------------------------------------
def _image(repo: Repo, cli: Cli, tmp_path: Path, registry: LocalRegistry,  # noqa: F811
           name: str) -> tuple[Path, Path]:
    push = f"""\
    push:
      repository: {registry.host}/example/{name}
      tags: [edge]
"""
    path = image_pipeline(repo, push=push)
    review = tmp_path / "review.json"
    res = cli("run", path, "--dry-run", "--out", tmp_path / "dry", "--report", review)
    assert res.code == 0, res.err
    return path, review


def _absent(reference: str) -> None:
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0, f"{reference} was pushed"


@pytest.mark.parametrize(("edit", "pushed", "difference"), [
    # one more tag: the reviewed steps are all still there, with the reviewed digests
    ("tag", "{host}/example/{name}:evil",
     "'move tag' #2: approved nothing, now move tag {host}/example/{name}:evil"),
    ("registry", "{other}/example/{name}:edge",
     "'push image': target approved {host}/example/{name}, now {other}/example/{name}"),
])
@pytest.mark.parametrize("mode", ["untracked", "allow-dirty"])
def test_an_image_pushed_elsewhere(repo: Repo, cli: Cli, tmp_path: Path,
                                   registry: LocalRegistry,  # noqa: F811
                                   edit: str, pushed: str, difference: str, mode: str) -> None:
    name = f"{edit}-{mode}"
    # the same registry under another name: another registry, as far as the plan goes
    other = "localhost:" + registry.host.rsplit(":", 1)[1]
    path, review = _image(repo, cli, tmp_path, registry, name)
    text = path.read_text(encoding="utf-8")
    if edit == "tag":
        text = text.replace("tags: [edge]", "tags: [edge, evil]")
    else:
        text = text.replace(f"repository: {registry.host}/", f"repository: {other}/")
    target = path if mode == "allow-dirty" else repo.path / "edited.yaml"
    target.write_text(text, encoding="utf-8")
    extra = ["--allow-dirty"] if mode == "allow-dirty" else []
    res = cli("run", target, "--out", tmp_path / "out", "--approved-plan", review, *extra)
    if mode == "allow-dirty":
        assert res.code == 2 and "cannot be combined with --allow-dirty" in res.err, res.err
    else:
        refused(res, "pipeline file: approved release.yaml",
                difference.format(host=registry.host, other=other, name=name))
    assert res.out == ""
    _absent(pushed.format(host=registry.host, other=other, name=name))
    _absent(f"{registry.host}/example/{name}:edge")
