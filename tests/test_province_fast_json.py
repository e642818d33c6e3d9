"""The province's fast JSON: it parses every body to what the standard library parses it to
(or leaves it to the standard library), and writes exactly the canonical bytes the device
signs: any JSON value without floats, every character, integers of any size."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.record.canonical import canonical_json
from simulator.province.speed.fast_json import NOT_PARSED, canonical, loads

KEYS = st.text(st.characters(codec="utf-8"), max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(st.characters(codec="utf-8"))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=2000)
@given(VALUES)
def test_the_same_bytes_as_the_devices_canonical_json(value):
    assert canonical(value) == canonical_json(value)


def test_every_character_is_written_as_the_device_writes_it():
    for start in range(0, 0x110000, 0x800):
        text = "".join(chr(c) for c in range(start, start + 0x800) if not 0xD800 <= c <= 0xDFFF)
        value = {"b": text, "a": [text, {"é": text}], "": None}
        assert canonical(value) == canonical_json(value)


def test_what_orjson_refuses_is_written_by_the_standard_library():
    for value in ({"seq": 2**64}, {"seq": -(2**63) - 1}, {"pf": 10**30}):
        assert canonical(value) == canonical_json(value)
    lone = {"text": "\ud800"}  # no UTF-8 for it: the body parser refuses it before this
    for encode in (canonical, canonical_json):
        with pytest.raises(UnicodeEncodeError):
            encode(lone)


BODY_VALUES = st.recursive(
    SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=2000)
@given(BODY_VALUES, st.sampled_from([None, 0, 2]), st.booleans(), st.booleans())
def test_a_body_parses_to_what_the_standard_library_gives(value, indent, ascii_only, compact):
    separators = (",", ":") if compact else None
    body = json.dumps(value, indent=indent, ensure_ascii=ascii_only, separators=separators)
    parsed = loads(body.encode("utf-8"))
    expected = json.loads(body)
    if parsed is not NOT_PARSED:
        assert parsed == expected
        assert json.dumps(parsed) == json.dumps(expected)  # same types: no int became a float


def test_long_integers_and_what_orjson_refuses_are_left_to_the_standard_library():
    for body in (
        b"[12345678901234567890]",
        b'{"pf": -99999999999999999999}',
        b"1234567890123456789012",
        b'{"a":\n 10000000000000000000}',
        b"[NaN]",
        b'["\\ud800"]',
        b"\xef\xbb\xbf[1]",
        b"[1e400]",
    ):
        assert loads(body) is NOT_PARSED, body
    assert loads(b'{"seq": 999999999999999999, "id": "12345678901234567890123"}') == {
        "seq": 999999999999999999,
        "id": "12345678901234567890123",
    }
