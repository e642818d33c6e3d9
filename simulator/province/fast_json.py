"""Canonical JSON on the stand-in province's hot path: orjson, where it writes exactly the
bytes the standard library writes.

The province re-encodes every record of every batch in canonical form to check its
signature; with the standard library that costs a third of the signature check. For JSON
values without floats (canonical JSON has none) orjson with sorted keys writes the spec's
canonical bytes; integers beyond 64 bits and lone surrogates, which it refuses, are encoded
by `device.canonical`. tests/test_province_fast_json.py holds the two to the same bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

from device.canonical import canonical_json


def canonical(value: Any) -> bytes:
    """`device.canonical.canonical_json(value, checked=True)`, for values already known to
    hold JSON values only, no floats (a validated record)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return canonical_json(value, checked=True)
