"""The province's fast canonical JSON writes exactly the bytes the device signs: any JSON
value without floats, every character, integers of any size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.canonical import canonical_json
from simulator.province.fast_json import canonical

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
