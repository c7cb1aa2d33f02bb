"""Safe YAML loading that remembers where every key and value came from.

PyYAML's safe loader keeps the last of two duplicate keys and expands aliases
without bound; both are refused here. The result is plain Python data plus a
map from each YAML path to its position, so later errors can point at
``file:line:col``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from release.errors import Diagnostic, Location, PipelineError

MAX_FILE_BYTES = 1024 * 1024
#: Upper bound on the nodes a document may expand to once aliases are followed.
MAX_EXPANDED_NODES = 100_000

YamlPath = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_HINT = "pipeline files use plain YAML: strings, numbers, lists, mappings"
_PLAIN = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})


def dotted(path: YamlPath) -> str:
    """``("stages", "sign", "needs", 0)`` -> ``stages.sign.needs[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass
class YamlDocument:
    """Parsed data and the position of every value (and of every mapping key)."""

    file: str
    data: object
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: YamlPath, *, key: bool = False) -> Location:
        """The nearest known position of ``path``, walking up to its parents."""
        probe = tuple(path)
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if not probe:
                return Location(self.file)
            probe = probe[:-1]
            key = False


def _error(file: str, message: str, mark: yaml.Mark | None,
           hint: str | None = None, path: YamlPath | None = None) -> PipelineError:
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    return PipelineError(message, hint, loc, None if path is None else dotted(path))


def read_text(path: Path) -> str:
    """Read a pipeline file: bounded in size, strictly UTF-8."""
    name = str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PipelineError(
            f"cannot read pipeline file: {exc.strerror}",
            "check the path",
            Location(name),
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise PipelineError(
            f"pipeline file is larger than {MAX_FILE_BYTES // 1024} KiB",
            "a pipeline is a short declarative file; move data into files the stages read",
            Location(name),
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise PipelineError(
            f"pipeline file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
            Location(name, line, col),
        ) from exc


def parse(text: str, file: str) -> YamlDocument:
    """Parse one YAML document into data with positions."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise _error(file, f"YAML syntax error: {problem}", mark, "fix the YAML syntax") from exc
    except yaml.reader.ReaderError as exc:  # a character YAML refuses: at its place
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character))
        # the first refused character is this one; libyaml counts its position in bytes
        at = text.find(chr(char))
        at = exc.position if at < 0 else at
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        escape = (f"\\x{char:02x}" if char <= 0xFF else f"\\u{char:04x}" if char <= 0xFFFF
                  else f"\\U{char:08x}")
        raise PipelineError(f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
                            "remove it; inside a double-quoted string write it as an escape, "
                            f'e.g. "{escape}"', Location(file, line, column)) from exc
    except yaml.YAMLError as exc:
        raise _error(file, f"YAML error: {exc}", None) from exc
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise PipelineError(
            "pipeline file is empty",
            "start with `version: 1` and a `stages:` mapping",
            Location(file, 1, 1),
        )
    if len(nodes) > 1:
        raise _error(file, "expected one YAML document, found several", nodes[1].start_mark,
                     "remove the `---` separator and the extra document")
    doc = YamlDocument(file, None)
    root = nodes[0]
    _measure(root, file, {}, set())
    doc.data = _Builder(doc).build(root, ())
    return doc


def _measure(node: yaml.Node, file: str, sizes: dict[int, int], active: set[int]) -> int:
    """Count the nodes ``node`` expands to, refusing recursion and alias bombs."""
    ident = id(node)
    if ident in sizes:
        return sizes[ident]
    if ident in active:
        raise _error(file, "recursive alias: a node contains itself", node.start_mark,
                     "remove the alias that refers to its own anchor")
    active.add(ident)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _measure(child, file, sizes, active)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _measure(key, file, sizes, active) + _measure(value, file, sizes, active)
    active.discard(ident)
    if total > MAX_EXPANDED_NODES:
        raise _error(
            file,
            f"aliases expand to more than {MAX_EXPANDED_NODES} nodes",
            node.start_mark,
            "a pipeline does not need that many nodes: this looks like an alias bomb",
        )
    sizes[ident] = total
    return total


class _Builder:
    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.constructor = SafeConstructor()

    def build(self, node: yaml.Node, path: YamlPath) -> object:
        self.doc.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN:
            raise _error(self.doc.file, f"unsupported YAML tag {node.tag!r}", node.start_mark,
                         _PLAIN_HINT)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: YamlPath) -> object:
        """A scalar's value; one that Python cannot hold or print is an error at its place."""
        limit = sys.get_int_max_str_digits()
        too_large = f"integer too large (more than {limit} digits)"
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise _error(self.doc.file, f"invalid value: {exc.problem}", node.start_mark,
                         _PLAIN_HINT) from exc
        except ValueError as exc:  # int() and datetime() refuse some of what YAML allows
            digits = sum(c.isdigit() for c in str(node.value))
            problem = (f"invalid date: {exc}" if node.tag == _TIMESTAMP_TAG
                       else too_large if node.tag == _INT_TAG and 0 < limit < digits
                       else f"invalid {node.tag.replace('tag:yaml.org,2002:', '!!')} value")
            raise _error(self.doc.file, problem, node.start_mark,
                         "quote it if it is meant as text", path) from None
        try:
            str(value)  # 0x... and 1:2:3 read in any size: an int's decimal form may not
        except ValueError:
            raise _error(self.doc.file, too_large, node.start_mark,
                         "quote it if it is meant as text", path) from None
        return value

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs with YAML merge keys (``<<: *base``) applied."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        raise _error(self.doc.file, "a merge key (<<) takes a mapping or a "
                                     "list of mappings", src.start_mark)
                    merged.extend(self._pairs(src))
            else:
                own.append((key, value))
        own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        return [(k, v) for k, v in merged if k.value not in own_keys] + own

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[object, object]:
        out: dict[object, object] = {}
        seen: dict[object, yaml.Node] = {}
        for key_node, value_node in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                raise _error(self.doc.file, "mapping keys must be plain scalars",
                             key_node.start_mark)
            key = self._scalar(key_node, path)
            try:
                hash(key)
            except TypeError as exc:  # pragma: no cover - scalars are hashable
                raise _error(self.doc.file, "unhashable mapping key", key_node.start_mark) from exc
            if key in seen:
                first = seen[key].start_mark
                raise PipelineError(
                    f"duplicate key {key!r} (first defined at line {first.line + 1})",
                    "YAML keeps only the last value of a duplicate key: remove one of them",
                    Location(self.doc.file, key_node.start_mark.line + 1,
                             key_node.start_mark.column + 1),
                    dotted((*path, str(key))),
                    extra=[Diagnostic("first defined here",
                                      Location(self.doc.file, first.line + 1, first.column + 1),
                                      severity="note")],
                )
            seen[key] = key_node
            child = (*path, key if isinstance(key, str | int) else str(key))
            self.doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child)
        return out
