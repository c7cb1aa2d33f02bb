"""Properties of the ``certificates-file`` reader: whatever the input, a valid result or
a clear error at a real place of that file, with a hint; never a traceback or a repr."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from release.errors import InputError
from release.pem.certificates_file import (
    CertificatesFileError,
    parse_certificates_file,
    read_certificates_file,
)
from tests.pem.test_certificates_file import MODEL

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FILE = "sdk/.tpm-roots.yaml"
#: What a library's debug representation looks like, never shown to a user.
REPR = re.compile(r"<[A-Za-z_.]+ object at|Traceback|\b[A-Z][A-Za-z]+Error\(|<unicode string>")


def check_error(exc: CertificatesFileError, text: str) -> None:
    """Each problem names this file at a line (and column) that exists, says what is
    wrong, and how to fix it."""
    assert isinstance(exc, InputError) and exc.exit_code == 2
    lines = text.split("\n")
    for diag in exc.diagnostics:
        assert diag.location is not None and diag.location.file == FILE
        if diag.location.line is not None:
            assert 1 <= diag.location.line <= len(lines) + 1, diag
            if diag.location.column is not None:
                assert diag.location.column >= 1
        assert diag.message and (diag.hint or diag.severity == "note"), diag
        assert not REPR.search(diag.message + (diag.hint or "")), diag
    assert exc.render().startswith(f"{FILE}")


def read(text: str) -> None:
    try:
        entries = parse_certificates_file(text, FILE)
    except CertificatesFileError as exc:
        check_error(exc, text)
        return
    for entry in entries:
        assert entry.owner and entry.vendor and entry.name and (entry.url or entry.path)
        assert entry.pins.digests


MODEL_LINES = MODEL.split("\n")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The model project's file with a few edits a person might make by mistake."""
    lines = list(MODEL_LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "dedent", "indent", "char", "value", "dup"]))
        line = lines[i]
        if edit == "drop":
            del lines[i]
        elif edit == "dedent":
            lines[i] = line[2:]
        elif edit == "indent":
            lines[i] = "  " + line
        elif edit == "dup":
            lines.insert(i, line)
        elif edit == "char" and line:
            at = draw(st.integers(0, len(line) - 1))
            char = draw(st.sampled_from(list(":-'\"[]{}#&*!|>%@` \tx0")))
            lines[i] = line[:at] + char + line[at + 1:]
        elif edit == "value" and ": " in line:
            key = line.split(": ", 1)[0]
            value = draw(st.sampled_from(['"AA:BB"', "12", "true", "null", "[]", "{}",
                                          '"zz:' + "11:" * 31 + '11"', '"' + "A" * 64 + '"',
                                          "~", '"https://x"', '"../x.pem"', "", "- a"]))
            lines[i] = f"{key}: {value}"
    return "\n".join(lines)


@SETTINGS
@given(mutated())
def test_edited_model_files_give_a_result_or_a_located_error(text: str) -> None:
    read(text)


@SETTINGS
@given(st.text(st.sampled_from(list("abvendorsidnamecertificatesurlpathvalidation"
                                    "fingerprintsha256:AB0123 -\n\"'[]{},#&*!|>")),
               max_size=400))
def test_yaml_ish_text_gives_a_result_or_a_located_error(text: str) -> None:
    read(text)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_give_a_result_or_a_located_error(data: bytes) -> None:
    try:
        read_certificates_file(data, FILE)
    except CertificatesFileError as exc:
        check_error(exc, data.decode("utf-8", "replace"))


@SETTINGS
@given(st.text(max_size=120))
def test_any_fingerprint_string_is_a_pin_or_an_error_at_its_line(value: str) -> None:
    assume("\n" not in value and "\r" not in value)
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    text = MODEL.replace('sha256: "' + ":".join(["AA"] * 32) + '"', f'sha256: "{quoted}"')
    assume(text != MODEL)
    line = next(i for i, t in enumerate(text.split("\n"), 1) if "sha256:" in t)
    try:
        entries = parse_certificates_file(text, FILE)
    except CertificatesFileError as exc:
        check_error(exc, text)
        assert exc.diagnostics[0].location is not None
        assert exc.diagnostics[0].location.line == line
        first = exc.diagnostics[0]
        if not first.message.startswith("character U+"):  # else YAML refuses the character
            assert first.hint is not None and "openssl x509" in first.hint, first
        return
    digest = dict(entries[0].pins.digests)["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == re.sub(r"[^0-9a-f]", "", value.lower())


def test_a_refused_character_is_named_at_its_place() -> None:
    """PyYAML reports the position of a control character without a line, and libyaml in
    bytes: the error still names its line and column, in characters."""
    text = MODEL.replace('name: "Infineon"', 'name: "Infine\U00010000\x1fon"')
    try:
        parse_certificates_file(text, FILE)
    except CertificatesFileError as exc:
        assert exc.render().startswith(f"{FILE}:14:21: error: character U+001F is not "
                                       "allowed in YAML")
        assert exc.hint is not None and '"\\x1f"' in exc.hint
    else:
        raise AssertionError("a control character was accepted")
