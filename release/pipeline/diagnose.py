"""pydantic's validation errors -> located diagnostics: each names the pipeline file's
line and column, says what was expected there and, where it can, how to write it."""

from __future__ import annotations

import re
from typing import Any

from release.engine.redaction import Redactor
from release.errors import Diagnostic, suggest
from release.pipeline.model import Pipeline
from release.stages import KINDS
from release.yamlsource import YamlDocument, YamlPath, dotted


def type_name(value: object) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", int: "a number",
            float: "a number", bool: "a boolean"}.get(type(value), type(value).__name__)


def _clean_loc(doc: YamlDocument, loc: tuple[str | int, ...], value: Any) -> YamlPath:
    """Drop pydantic's union tags (the stage kind, ``function-after``...) from a location.

    A tag can also be a key of the file's mapping (``timeout: {int: [1]}``): the path
    ends at the deepest place holding the error's input ``value``, when there is one."""
    out: list[str | int] = []
    data: Any = doc.data
    holds = 0 if _same(data, value) else None
    for i, part in enumerate(loc):
        if i == 2 and out == ["stages", loc[1]] and isinstance(data, dict) \
                and part == data.get("kind"):
            continue  # a stage's kind, even if the stage also has a key of that name
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if in_dict or in_list:
            out.append(part)
            data = data[part]
            if _same(data, value):
                holds = len(out)
        elif isinstance(data, dict | list):
            # a tag pydantic inserted, or a missing key (keep that last)
            if (part == loc[-1] and isinstance(part, str) and isinstance(data, dict)
                    and not part.startswith("function-")):
                out.append(part)
        else:
            break
    return tuple(out if holds is None else out[:holds])


def _same(data: Any, value: Any) -> bool:
    """``data`` is the error's input: the same mapping or list, or an equal scalar."""
    if data is value or isinstance(data, dict | list):
        return data is value
    return type(data) is type(value) and bool(data == value)


def _diagnostic(doc: YamlDocument, err: Any) -> Diagnostic:
    loc = tuple(err["loc"])
    is_key = loc[-1:] == ("[key]",)
    path = _clean_loc(doc, loc[:-1] if is_key else loc, _input(err))
    etype = err["type"]
    where = dotted(path)
    if is_key and len(path) == 2 and path[0] == "stages":
        return Diagnostic(f"invalid stage id {path[1]!r}", doc.location(path, key=True), where,
                          "stage ids are lowercase letters, digits and '-', starting with a "
                          "letter")
    if etype == "extra_forbidden":
        key = str(path[-1])
        parent = path[:-1]
        allowed = _allowed_keys(doc, parent)
        guess = suggest(key, allowed)
        hint = f"did you mean {guess!r}?" if guess else (
            f"allowed keys: {', '.join(sorted(allowed))}" if allowed else None)
        if key.startswith("cache") or key.endswith("cache"):
            hint = "caches are not allowed: every stage starts from empty caches"
        return Diagnostic(f"unknown key {key!r}", doc.location(path, key=True), where, hint)
    if etype == "union_tag_invalid":
        kind = err["input"].get("kind") if isinstance(err["input"], dict) else None
        guess = suggest(str(kind), list(KINDS))
        hint = f"did you mean {guess!r}?" if guess else f"known kinds: {', '.join(KINDS)}"
        return Diagnostic(f"unknown stage kind {kind!r}", doc.location((*path, "kind")),
                          f"{where}.kind", hint)
    if etype == "union_tag_not_found":
        return Diagnostic("stage has no `kind`", doc.location(path, key=True), where,
                          f"add `kind:` with one of: {', '.join(KINDS)}")
    if etype == "missing":
        return Diagnostic(f"missing required key {str(path[-1])!r}",
                          doc.location(path[:-1], key=True), where, None)
    if etype == "literal_error" and path[-1:] == ("id-token",):
        return Diagnostic("`id-token` can only be `write`", doc.location(path), where,
                          "remove the key for no OIDC token, or write `id-token: write`")
    got = _short(err.get("input"))
    hint = None
    if etype == "literal_error":  # "'sigstore' or 'key'": a misspelt choice gets a guess
        guess = suggest(str(err.get("input")),
                        re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))))
        hint = f"did you mean {guess!r}?" if guess else None
    message = str(err["msg"]).removeprefix("Value error, ")
    if message[1:2].islower():
        message = message[:1].lower() + message[1:]
    return Diagnostic(f"{message} (got {got})", doc.location(path, key=is_key), where, hint)


def diagnostics(doc: YamlDocument, errors: list[Any]) -> list[Diagnostic]:
    """One diagnostic per problem, in pydantic's order; the type errors of a union's
    members at one place (``int | str``) are one "expected a whole number or a string"."""
    type_errors: dict[YamlPath, list[Any]] = {}
    found: list[Diagnostic | YamlPath] = []
    every = [_clean_loc(doc, tuple(err["loc"]), _input(err)) for err in errors]
    for err, path in zip(errors, every, strict=True):
        if err["type"] not in _EXPECTED or tuple(err["loc"])[-1:] == ("[key]",):
            found.append(_diagnostic(doc, err))
            continue
        if isinstance(err.get("input"), dict | list) and any(
                len(other) > len(path) and other[:len(path)] == path for other in every):
            # a union member wanting a scalar here, while another member's errors are
            # about the items inside (``runs-on: str | list[str]`` given ``[1]``): those
            # say what is wrong; "expected a string (got a list)" would mislead
            continue
        if path not in type_errors:
            found.append(path)
        type_errors.setdefault(path, []).append(err)
    return [_type_error(doc, item, type_errors[item]) if isinstance(item, tuple) else item
            for item in found]


#: No input to look for: the error names a key, not a value.
_UNKNOWN: Any = object()


def _input(err: Any) -> Any:
    """The value an error is about, or :data:`_UNKNOWN` for those that name a key: the
    mapping a key is missing from, a key (``[key]``), a key that is not allowed."""
    if err["type"] in ("missing", "extra_forbidden") or tuple(err["loc"])[-1:] == ("[key]",):
        return _UNKNOWN
    return err.get("input", _UNKNOWN)


def _type_error(doc: YamlDocument, path: YamlPath, errors: list[Any]) -> Diagnostic:
    value = errors[0].get("input")
    wanted = [_EXPECTED[e["type"]] for e in errors]
    expected = " or ".join(dict.fromkeys(what for what, _ in wanted))
    hints = [hint for what, hint in wanted if hint and (
        what != _STRING[0] or isinstance(value, int | float))]  # bool is an int
    return Diagnostic(f"expected {expected} (got {_short(value)})", doc.location(path),
                      dotted(path), hints[0] if hints else None)


_LIST = ("a list", "write a YAML list: `[a, b]`, or one `- item` per line")
_MAPPING = ("a mapping", "write `key: value` lines, indented under the key")
_STRING = ("a string", "quote it: YAML reads 1.10 as the number 1.1, and yes/no as booleans")
#: pydantic's type errors -> what the file should hold there, and how to write it.
_EXPECTED: dict[str, tuple[str, str | None]] = {
    "list_type": _LIST, "tuple_type": _LIST,
    "dict_type": _MAPPING, "model_type": _MAPPING, "model_attributes_type": _MAPPING,
    "string_type": _STRING,
    "bool_type": ("true or false", None), "bool_parsing": ("true or false", None),
    "int_type": ("a whole number", None), "int_parsing": ("a whole number", None),
    "int_from_float": ("a whole number", None),
}


def _short(value: Any) -> str:
    """A value for a message, at most 60 characters; a token in it is masked before it is
    cut (a cut token no longer looks like one to the output's redaction)."""
    text = Redactor()(repr(value)) if not isinstance(value, dict | list) else type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(doc: YamlDocument, parent: YamlPath) -> list[str]:
    if parent == ():
        return [f.alias or n for n, f in Pipeline.model_fields.items()]
    if parent == ("source",):
        from release.pipeline.model import Source

        return list(Source.model_fields)
    data: Any = doc.data
    for part in parent[:2]:
        data = data.get(part) if isinstance(data, dict) else None
    if len(parent) >= 2 and parent[0] == "stages" and isinstance(data, dict):
        kind = KINDS.get(str(data.get("kind")))
        if kind is None:
            return []
        model: type[Any] = kind.config
        if len(parent) == 3 and parent[2] == "permissions":
            from release.permissions import NAMES

            return list(NAMES)
        if len(parent) == 2:
            return [f.alias or n for n, f in model.model_fields.items()]
    return []
