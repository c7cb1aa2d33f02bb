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


def test_a_file_name_cannot_add_properties_or_end_the_command(cli, monkeypatch, tmp_path):
    # `,` would start another property (`line=1`), `:` and a newline could end the
    # command early and start one of the file name's choosing
    folder = tmp_path / "a,line=1,title=x::warning::y\nz"
    folder.mkdir()
    path = folder / "p.yaml"
    path.write_text("version: 1\nname: x\nstages:\n  a:\n    kind: checksums\n    nope: 1\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = cli("plan", path)
    assert result.code == 2
    (line,) = [s for s in result.out.splitlines() if s.startswith("::error ")]
    escaped = str(path).replace(",", "%2C").replace(":", "%3A").replace("\n", "%0A")
    assert line.startswith(f"::error file={escaped},line=6,col=5::unknown key 'nope'")
    assert "\\n" in result.err and "\nz/p.yaml" not in result.err  # shown escaped too
