"""Fingerprint pins: every spelling of a digest parses, nothing else does."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.pem.pins import SIZES, InvalidPin, Pins, parse_pin

SETTINGS = settings(max_examples=500, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ALGORITHMS = st.sampled_from(list(SIZES))


def spellings(raw: bytes) -> st.SearchStrategy[str]:
    """How configurations write a digest: hex either case, colon pairs, stray spaces."""
    plain = raw.hex()
    pairs = ":".join(plain[i:i + 2] for i in range(0, len(plain), 2))
    return st.sampled_from([plain, plain.upper(), pairs, pairs.upper()]).flatmap(
        lambda text: st.tuples(st.sampled_from(["", " ", "\t"]),
                               st.sampled_from(["", " ", "\n"])).map(
            lambda pad: pad[0] + text + pad[1]))


@SETTINGS
@given(ALGORITHMS.flatmap(lambda alg: st.tuples(
    st.just(alg), st.binary(min_size=SIZES[alg], max_size=SIZES[alg]))).flatmap(
        lambda pair: st.tuples(st.just(pair[0]), st.just(pair[1]), spellings(pair[1]))))
def test_every_spelling_of_a_digest_parses(case: tuple[str, bytes, str]) -> None:
    algorithm, raw, text = case
    assert parse_pin(algorithm, text) == raw.hex()


@SETTINGS
@given(st.one_of(ALGORITHMS, st.text(max_size=10)),
       st.one_of(st.text(max_size=200), st.integers(), st.none(), st.binary(max_size=20),
                 st.lists(st.text(max_size=3), max_size=3)))
def test_anything_else_raises_only_invalid_pin(algorithm: str, value: object) -> None:
    try:
        parsed = parse_pin(algorithm, value)
    except InvalidPin as exc:
        assert str(exc) and len(str(exc)) < 300
        return
    assert len(parsed) == 2 * SIZES[algorithm]
    assert parsed == parsed.lower() and all(c in "0123456789abcdef" for c in parsed)


@pytest.mark.parametrize(("algorithm", "value", "message"), [
    ("sha384", "ab" * 32, "a SHA-384 fingerprint is 48 bytes (96 hex digits), this one has 64 "
                          "hex digits; it looks like a SHA-256 fingerprint"),
    ("sha256", "ab" * 20, "it looks like a SHA-1 fingerprint"),
    ("sha256", "AB:CD::EF", "pairs of hex digits separated by single colons"),
    ("sha256", "xyz", "holds only hex digits"),
    ("md5", "ab" * 16, "unknown fingerprint algorithm 'md5': use sha256 (preferred), sha384, "
                       "sha512 or sha1"),
    ("sha1", 1234, "a SHA-1 fingerprint is a string of hex digits, not int"),
])
def test_errors_in_words(algorithm: str, value: object, message: str) -> None:
    with pytest.raises(InvalidPin, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_pin(algorithm, value)


def test_several_pins_must_all_match() -> None:
    data = b"certificate bytes"
    digests = {alg: hashlib.new(alg, data).hexdigest() for alg in SIZES}
    pins = Pins.parse({"sha1": digests["sha1"], "sha512": digests["sha512"],
                       "sha256": digests["sha256"]})
    assert [alg for alg, _ in pins.digests] == ["sha256", "sha512", "sha1"]  # sha256 first
    assert pins.mismatches(digests) == []
    wrong = {**digests, "sha512": "0" * 128}
    assert pins.mismatches(wrong) == [("sha512", digests["sha512"], "0" * 128)]
    with pytest.raises(InvalidPin, match="pin at least one fingerprint"):
        Pins.parse({})


def test_sha1_warns() -> None:
    only = Pins.parse({"sha1": "ab" * 20})
    assert only.only_sha1 and "SHA-1 alone, which is weak" in (only.warning() or "")
    both = Pins.parse({"sha1": "ab" * 20, "sha256": "cd" * 32})
    assert not both.only_sha1 and "SHA-1 pin, which is weak" in (both.warning() or "")
    assert Pins.parse({"sha256": "cd" * 32}).warning() is None
