"""In GitHub Actions, errors also go out as workflow annotations with file and line."""

from __future__ import annotations


def test_errors_become_annotations_in_actions(cli, monkeypatch, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: x\nstages:\n  a:\n    kind: checksums\n    nope: 1\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = cli("plan", path)
    assert result.code == 2
    assert f"::error file={path},line=6,col=5::unknown key 'nope'" in result.out


def test_summary_goes_to_the_step_summary(cli, monkeypatch, repo, tmp_path):
    repo.write("p.yaml", """\
        version: 1
        name: x
        stages:
          a:
            kind: command
            run: ["sh", "-c", "echo hi > {out}/hi"]
            outputs: ["hi"]
        """)
    repo.commit()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("run", repo.path / "p.yaml", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    text = summary.read_text()
    assert "| a | command | success |" in text
    assert "`hi`" in text
