"""A small, deterministic YAML writer for workflows, with end-of-line comments.

PyYAML cannot write comments, and a generated workflow needs them: zizmor's pedantic
persona asks for a reason beside every permission, and a pinned ``uses:`` carries its
version in a comment. The output is byte-for-byte stable, so drift checks can compare
text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PLAIN = re.compile(r"^[A-Za-z0-9_/.][A-Za-z0-9_ ./@=+,()'-]*$")
_RESERVED = re.compile(r"^(?:y|n|yes|no|on|off|true|false|null|~)$", re.IGNORECASE)
#: YAML 1.1 reads a plain ``2024-01-02`` (and ``0000-00-00``, then fails) as a timestamp.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d?-\d\d?")
_NUMERIC = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?$|^0[xob]", re.IGNORECASE)


@dataclass(frozen=True)
class Note:
    """A value written with a ``# comment`` at the end of its line."""

    value: object
    comment: str


class Spaced(dict[str, object]):
    """A mapping whose entries are separated by blank lines (top level, jobs)."""


def dump(data: Mapping[str, object], header: Sequence[str] = ()) -> str:
    """The YAML text of ``data``, preceded by ``header`` comment lines."""
    lines = [_comment(h).lstrip() or "#" for h in header]
    lines += _mapping(data, 0)
    return "\n".join(lines) + "\n"


def scalar(value: object) -> str:
    """One scalar as YAML: plain when unambiguous, else a JSON (double-quoted) string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if (_PLAIN.match(text) and not text.endswith(" ") and not _RESERVED.match(text)
            and not _NUMERIC.match(text) and not _TIMESTAMP.match(text)):
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar; characters YAML may not hold raw are escaped."""
    out = json.dumps(text, ensure_ascii=False)
    return "".join(ch if ch.isprintable() or ch in " \t" else _escape(ch) for ch in out)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _literal_safe(text: str) -> bool:
    """Whether a ``|`` block keeps ``text`` exactly (else it is written double-quoted)."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    return (lines[0][:1] not in ("", " ", "\t") and all(line == line.rstrip() for line in lines)
            and not body.endswith("\n") and all(ch == "\t" or ch.isprintable() for ch in body
                                                if ch != "\n"))


def _comment(note: str) -> str:
    clean = "".join(ch if ch.isprintable() else " " for ch in note).strip()
    return f"  # {clean}" if clean else ""


def _mapping(data: Mapping[str, object], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for i, (key, raw) in enumerate(data.items()):
        if isinstance(data, Spaced) and i:
            out.append("")
        value, note = (raw.value, raw.comment) if isinstance(raw, Note) else (raw, "")
        head = f"{pad}{key}:"
        out += _value(head, value, note, indent)
    return out


def _value(head: str, value: object, note: str, indent: int) -> list[str]:
    """Lines for ``head`` (``key:`` or ``-``) followed by ``value``."""
    if isinstance(value, Mapping):
        if not value:
            return [f"{head} {{}}{_comment(note)}"]
        return [f"{head}{_comment(note)}", *_mapping(value, indent + 2)]
    if isinstance(value, list | tuple):
        if not value:
            return [f"{head} []{_comment(note)}"]
        return [f"{head}{_comment(note)}", *_sequence(value, indent + 2)]
    if isinstance(value, str) and "\n" in value and _literal_safe(value):
        chomp = "" if value.endswith("\n") else "-"
        body = value[:-1] if value.endswith("\n") else value
        pad = " " * (indent + 2)
        return [f"{head} |{chomp}{_comment(note)}",
                *[f"{pad}{line}".rstrip() for line in body.split("\n")]]
    return [f"{head} {scalar(value)}{_comment(note)}"]


def _sequence(items: Sequence[object], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for raw in items:
        value, note = (raw.value, raw.comment) if isinstance(raw, Note) else (raw, "")
        if isinstance(value, Mapping) and value:
            nested = _mapping(value, indent + 2)
            first = nested[0][indent + 2:]
            out.append(f"{pad}- {first}{_comment(note)}")
            out += nested[1:]
        else:
            out += _value(f"{pad}-", value, note, indent)
    return out
