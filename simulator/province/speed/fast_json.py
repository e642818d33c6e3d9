"""Speeds up JSON on the stand-in province's hot path with orjson, wherever it gives exactly
what the plain path gives, and leaves the rest to the plain path:
- `loads` speeds up the standard-library parse in `http_server.json_body`;
- `dumps` speeds up the encoding of replies (`device.daemon.http.encode_json`);
- `canonical` speeds up `device.record.canonical.canonical_json` in `batch.py`;
- `signed_part` speeds up `device.record.canonical.signing_bytes` in `batch.py`.

Equality with the plain path: tests/test_province_fast_json.py holds `loads` and `canonical`
to the standard library's and `canonical_json`'s results on generated values, and
tests/test_province_speed.py holds `signed_part` to `signing_bytes`.

The province parses every batch and re-encodes every record in canonical form to check its
signature; with the standard library those two steps cost a third as much as the signature
checks themselves.
- `loads`: for RFC 8259 JSON both parsers give the same values, except that orjson reads
  integers beyond 64 bits as floats. A body that may hold an integer of 19 or more digits,
  and anything orjson refuses (NaN, lone surrogates, bad UTF-8, …), is left to the caller's
  standard-library path, which keeps the final word on what is an error.
- `dumps`: replies, with orjson unless it refuses the value (key order and spacing are free).
- `canonical`: for JSON values without floats (canonical JSON has none) orjson with sorted
  keys writes the spec's canonical bytes; integers beyond 64 bits and lone surrogates, which
  it refuses, are encoded by `device.record.canonical`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from device.record.canonical import canonical_json

NOT_PARSED = object()


def _shape_table() -> bytes:
    """A body mapped to three symbols: digits to 0; what may come just before a number
    (":,[", whitespace, the minus sign) to s; anything else to x. 19 zeros after an s, or at
    the start, then mark every integer of 19 or more digits (and, harmlessly, such digits
    inside some strings)."""
    table = bytearray(b"x" * 256)
    for byte in b"0123456789":
        table[byte] = ord("0")
    for byte in b":,[ \t\n\r-":
        table[byte] = ord("s")
    return bytes(table)


_SHAPE = _shape_table()
_DIGITS = b"0" * 19


def loads(body: bytes) -> Any:
    """The parsed body, or NOT_PARSED: parse it with the standard library instead."""
    shape = body.translate(_SHAPE)
    if shape.startswith(_DIGITS) or b"s" + _DIGITS in shape:
        return NOT_PARSED
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return NOT_PARSED


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of a reply (not canonical: key order and spacing are free here)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")


def canonical(value: Any) -> bytes:
    """`device.record.canonical.canonical_json(value, checked=True)`, for values already known to
    hold JSON values only, no floats (a validated record)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return canonical_json(value, checked=True)


def signed_part(canonical: bytes, signature: str) -> bytes:
    """`device.record.canonical.signing_bytes(record)`, cut out of the record's canonical
    bytes instead of a second pass.

    Exact for a validated record: "signature" is then a top-level key that is neither first
    nor last, nested objects have no such key, and `,"signature":` cannot occur inside a
    string (a quote there is escaped), so dropping that one member leaves exactly the
    canonical JSON of the record without its signature.
    """
    member = ',"signature":' + json.dumps(signature, ensure_ascii=False)
    return canonical.replace(member.encode("utf-8"), b"", 1)
