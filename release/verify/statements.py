"""What a verified provenance statement claims, checked against the release itself.

A valid DSSE signature only says who signed the statement; whether the statement
is *about these files* is ours to check (sigstore-python's ``verify_dsse`` does
not look at subjects): every artifact must be a subject with the same sha256, and
the source commit (``resolvedDependencies[].digest.gitCommit``, see
docs/build-type.md) must be the expected one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from release.provenance.slsa import PAYLOAD_TYPE
from release.untrusted_json import loads_json
from release.verify.report import Report

STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_GIT_URI = re.compile(r"^git\+https://github\.com/([^/@]+/[^/@]+?)(?:\.git)?@")


@dataclass(frozen=True)
class Statement:
    """The facts of one signed statement that verification looks at."""

    file: str
    predicate_type: str
    subjects: tuple[tuple[str, str], ...]
    commits: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    #: The commit in the signing certificate (GitHub ``sha`` claim), when keyless.
    signer_commit: str | None = None

    @property
    def is_provenance(self) -> bool:
        """A SLSA provenance predicate (v1, or the older v0.2), not e.g. an SBOM."""
        return self.predicate_type.startswith("https://slsa.dev/provenance/")


@dataclass(frozen=True)
class JsonlEntry:
    """One line of a ``.intoto.jsonl``: a DSSE envelope or a bare statement."""

    line: int
    payload_type: str | None
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...] = field(default=())


def read_jsonl(text: str, where: str) -> list[JsonlEntry] | str:
    """The entries of a JSON Lines file, or an error text naming ``file:line``."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = loads_json(raw)
        except json.JSONDecodeError as exc:
            return f"{where}:{number}:{exc.colno}: not JSON ({exc.msg})"
        if not isinstance(data, dict):
            return f"{where}:{number}: not a JSON object"
        if "payloadType" in data:
            try:
                sigs = tuple((str(s.get("keyid", "")), _b64(s["sig"]))
                             for s in data.get("signatures", []))
                entries.append(JsonlEntry(number, str(data["payloadType"]),
                                          _b64(data["payload"]), sigs))
            except (KeyError, TypeError, AttributeError, binascii.Error, ValueError) as exc:
                return f"{where}:{number}: malformed DSSE envelope ({exc})"
        else:
            entries.append(JsonlEntry(number, None, raw.encode("utf-8")))
    if not entries:
        return f"{where} is empty"
    return entries


def same_statement(entry: JsonlEntry, payload: bytes) -> bool:
    """Whether a jsonl entry holds the statement signed as ``payload``."""
    if entry.payload_type is not None:
        return entry.payload == payload
    try:
        return bool(loads_json(entry.payload) == loads_json(payload))
    except ValueError:
        return False


def parse_statement(payload_type: str | None, payload: bytes, where: str,
                    signer_commit: str | None = None) -> Statement | str:
    """The statement in a verified payload, or an error text saying what is malformed."""
    if payload_type is not None and payload_type != PAYLOAD_TYPE:
        return f"payload type is {payload_type!r}, expected {PAYLOAD_TYPE!r}"
    try:
        data = loads_json(payload)
    except ValueError as exc:
        return f"the payload is not JSON ({exc})"
    if not isinstance(data, dict) or data.get("_type") not in STATEMENT_TYPES:
        found = data.get("_type") if isinstance(data, dict) else type(data).__name__
        return f"not an in-toto statement (_type {found!r})"
    subjects = []
    for item in data.get("subject") or []:
        digest = item.get("digest") if isinstance(item, dict) else None
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(sha, str) and _HEX64.match(sha.lower()):
            subjects.append((str(item.get("name", "")), sha.lower()))
    if not subjects:
        return "the statement has no subject with a sha256 digest"
    commits, repos = _sources(data.get("predicate"))
    return Statement(where, str(data.get("predicateType", "")), tuple(subjects),
                     commits, repos, signer_commit)


def _sources(predicate: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """gitCommit digests and GitHub repositories of ``resolvedDependencies``."""
    commits: list[str] = []
    repos: list[str] = []
    deps = ((predicate or {}).get("buildDefinition") or {}).get("resolvedDependencies") \
        if isinstance(predicate, dict) else None
    for dep in deps if isinstance(deps, list) else []:
        if not isinstance(dep, dict):
            continue
        digest = dep.get("digest")
        commit = digest.get("gitCommit") if isinstance(digest, dict) else None
        if isinstance(commit, str):
            commits.append(commit.lower())
            match = _GIT_URI.match(str(dep.get("uri", "")))
            if match:
                repos.append(match.group(1))
    return tuple(commits), tuple(repos)


def check_subjects(statements: list[Statement], artifacts: dict[str, str],
                   report: Report) -> None:
    """Every artifact (name -> sha256) must be a subject, by digest, of some statement."""
    by_digest: dict[str, list[str]] = {}
    by_name: dict[str, list[tuple[str, str]]] = {}
    for st in statements:
        for name, digest in st.subjects:
            by_digest.setdefault(digest, []).append(st.file)
            by_name.setdefault(name, []).append((digest, st.file))
    for name, digest in sorted(artifacts.items()):
        if digest in by_digest:
            report.passed("subject", name, f"sha256 {digest[:16]}... is a subject of "
                          f"{', '.join(sorted(set(by_digest[digest])))}")
            continue
        claimed = by_name.get(name)
        if claimed:
            files = ", ".join(sorted({f for _, f in claimed}))
            report.failed("subject", name, f"the provenance ({files}) names it with another "
                          "digest", expected=f"sha256 {digest} (the file)",
                          found="sha256 " + ", ".join(sorted({d for d, _ in claimed})))
        else:
            report.failed("subject", name, "not a subject of any provenance statement",
                          expected=f"a subject with sha256 {digest}",
                          found=f"{sum(len(s.subjects) for s in statements)} subjects, "
                                "none with this digest")


def check_attested(st: Statement, artifacts: dict[str, str], report: Report) -> None:
    """Another kind of attestation (an SBOM...): its subjects must be release files."""
    by_digest = {d: n for n, d in artifacts.items()}
    for name, digest in st.subjects:
        if digest in by_digest:
            report.passed("attests", st.file, f"{st.predicate_type} about {by_digest[digest]}")
        elif name in artifacts:
            report.failed("attests", st.file, f"names {name} with another digest",
                          expected=f"sha256 {artifacts[name]} (the file)",
                          found=f"sha256 {digest}")
        else:
            report.skipped("attests", st.file, f"{name} (sha256 {digest[:16]}...) is not "
                           "among the verified files")


def matched_files(st: Statement, names: list[str], sha256: Callable[[str], str | None],
                  report: Report) -> list[str]:
    """The files a statement's subjects name by sha256; a wrong digest is a failure."""
    by_digest: dict[str, list[str]] = {}
    for name in names:
        if (sha := sha256(name)) is not None:
            by_digest.setdefault(sha, []).append(name)
    matched: list[str] = []
    missing = []
    for name, sha in st.subjects:
        if sha in by_digest:
            matched += [n for n in by_digest[sha] if n not in matched]
            continue
        same = [n for n in names if n in (name, name.rsplit("/", 1)[-1])]
        for file in same:
            report.failed("subject", file, f"{st.file} attests another version of this "
                          "file", expected=f"sha256 {sha} (attested)",
                          found=f"sha256 {sha256(file)} (the file)")
        if not same:
            missing.append(f"{name or '?'} (sha256 {sha[:16]}...)")
    if not matched and missing:
        report.failed("subject", st.file, "attests no file here",
                      expected="a subject with the sha256 of a file in the folder",
                      found=", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    elif missing:
        report.skipped("subject", st.file, "also attests " + ", ".join(missing[:5]) +
                       ", not in this folder")
    return matched


def check_source(st: Statement, commit: str | None, repository: str | None,
                 report: Report) -> None:
    """The statement's source commit must be the expected (or the signer's) commit."""
    expected = commit or st.signer_commit
    origin = "--commit" if commit else "the signing certificate"
    if repository and st.repositories and repository not in st.repositories:
        report.failed("source", st.file, "built from another repository",
                      expected=repository, found=", ".join(st.repositories))
    if not st.commits:
        if expected:
            report.failed("source", st.file, "names no source commit (no gitCommit in "
                          "resolvedDependencies)", expected=f"{expected} ({origin})",
                          found="none")
        else:
            report.skipped("source", st.file, "names no source commit and none is expected")
        return
    if expected is None:
        report.skipped("source", st.file, f"source commit {st.commits[0]} not checked: "
                       "pass --commit with the tag's commit")
    elif expected in st.commits:
        report.passed("source", st.file, f"source commit {expected} matches {origin}")
    else:
        report.failed("source", st.file, f"source commit differs from {origin}",
                      expected=expected, found=", ".join(st.commits))


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("base64 field is not a string")
    padded = value + "=" * (-len(value) % 4)
    if "-" in value or "_" in value:  # DSSE allows either alphabet
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)
