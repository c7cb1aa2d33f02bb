"""The workflow YAML writer: whatever it writes, a YAML parser reads back unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from release.workflows.yamlemit import Note, Spaced, dump, scalar

_KEYS = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True).filter(
    lambda k: k not in ("y", "n", "yes", "no", "on", "off", "true", "false", "null"))
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_LINES = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
                  min_size=2, max_size=4).map("\n".join)
_SCALARS = st.one_of(_TEXT, _LINES, st.booleans(), st.integers(-10**6, 10**6), st.none())
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=4))
def test_round_trip(data: dict[str, Any]) -> None:
    assert yaml.safe_load(dump(data)) == data


@given(st.dictionaries(_KEYS, _SCALARS, min_size=1, max_size=4), _TEXT)
def test_comments_do_not_change_values(data: dict[str, Any], note: str) -> None:
    noted = {k: Note(v, note) for k, v in data.items()}
    assert yaml.safe_load(dump(noted)) == data


def test_reserved_words_and_numbers_are_quoted() -> None:
    for text in ("on", "No", "true", "null", "~", "1.0", "0x1f", "3", "1e3", "", " x", "a: b",
                 "#x", "*a", "&a", "!t", "- x", "[x]", "{x}", "${{ github.ref }}", "@x"):
        assert yaml.safe_load(f"k: {scalar(text)}") == {"k": text}, text


def test_layout() -> None:
    text = dump(Spaced({"a": 1, "b": {"c": [{"d": Note("e", "why")}], "f": {}}}), ["head"])
    assert text == "# head\na: 1\n\nb:\n  c:\n    - d: e  # why\n  f: {}\n"


@pytest.mark.parametrize("text", ["0000-00-00", "2024-01-02", "2024-1-2 10:00"])
def test_date_like_strings_are_quoted(text: str) -> None:
    """YAML 1.1 resolves a plain date-like scalar as a timestamp (PyYAML fails on 0000-00-00)."""
    assert yaml.safe_load(dump({"k": text})) == {"k": text}
