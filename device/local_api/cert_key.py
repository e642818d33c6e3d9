"""What a pushed certKey may be: the shape of the province's hash of ID number and name.

Pure. Hex of an MD5, SHA-1, SHA-256/SM3 or SHA-512 digest, or standard / url-safe base64 of
one; never a resident ID number, whether bare, padded to a hash's length, or encoded. Every
refusal is a reason that never repeats the value.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date

DIGEST_BYTES = (16, 20, 32, 64)  # MD5, SHA-1, SHA-256 or SM3, SHA-512
_HEX = "[0-9A-Fa-f]"
# The last base64 character carries the digest's last bits and zeros: 16 and 64 bytes leave
# 4 zero bits (a multiple of 16), 20 and 32 bytes leave 2 (a multiple of 4).
_LAST_OF_4 = "[AQgw]"
_LAST_OF_2 = "[AEIMQUYcgkosw048]"
_STANDARD, _URL_SAFE = "[A-Za-z0-9+/]", "[A-Za-z0-9_-]"


def _base64_shapes(alphabet: str) -> list[str]:
    return [
        f"{alphabet}{{21}}{_LAST_OF_4}(==)?",  # 16 bytes
        f"{alphabet}{{26}}{_LAST_OF_2}=?",  # 20 bytes
        f"{alphabet}{{42}}{_LAST_OF_2}=?",  # 32 bytes
        f"{alphabet}{{85}}{_LAST_OF_4}(==)?",  # 64 bytes
    ]


_SHAPES = [
    *(f"{_HEX}{{{2 * n}}}" for n in DIGEST_BYTES),
    *_base64_shapes(_STANDARD),
    *_base64_shapes(_URL_SAFE),
]
# docs/local-api.openapi.json states the same pattern (no lookarounds: a fuzzer generates from it)
CERT_KEY_PATTERN = "^(" + "|".join(_SHAPES) + ")$"
_CERT_KEY = re.compile(CERT_KEY_PATTERN)
_HEX_ONLY = re.compile(f"{_HEX}+")

_BARE_ID = re.compile(r"\d{17}[\dXx]|\d{15}")  # what the ID number itself looks like
_ID_18 = re.compile(r"(?=(\d{17}[\dXx]))")  # overlapping: every 18-character window
_ID_15 = re.compile(r"(?=(\d{15}))")
_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_DIGITS = "10X98765432"
_DIGIT_RUN = re.compile(rb"\d{15}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]+")
AS_HASH = "send the province's hash of ID number and name instead"


def _born(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return 1880 <= born.year <= 2100


def is_id_number(text: str) -> bool:
    """A resident ID number: 18 characters with a valid check character and birth date, or
    the old 15 digits with a valid birth date (GB 11643)."""
    if len(text) == 18 and text[:17].isdigit():
        total = sum(int(c) * w for c, w in zip(text[:17], _CHECK_WEIGHTS, strict=True))
        return text[17].upper() == _CHECK_DIGITS[total % 11] and _born(
            int(text[6:10]), int(text[10:12]), int(text[12:14])
        )
    if len(text) == 15 and text.isdigit():
        return _born(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12]))
    return False


def holds_id_number(text: str, *, old_form: bool = True) -> bool:
    """Whether an ID number sits anywhere in `text` (the old 15 digits only if `old_form`)."""
    if any(is_id_number(m.group(1)) for m in _ID_18.finditer(text)):
        return True
    return old_form and any(is_id_number(m.group(1)) for m in _ID_15.finditer(text))


def is_hex(value: str) -> bool:
    """Hex of a digest (base64 shapes have other lengths)."""
    return len(value) in (2 * n for n in DIGEST_BYTES) and bool(_HEX_ONLY.fullmatch(value))


def digest_bytes(value: str) -> bytes | None:
    """The digest a certKey of a hash's shape encodes, or None if it has no such shape."""
    if not _CERT_KEY.fullmatch(value):
        return None
    try:
        if is_hex(value):
            raw = bytes.fromhex(value)
        else:
            padded = value + "=" * (-len(value) % 4)
            url_safe = "-" in value or "_" in value
            decode = base64.urlsafe_b64decode if url_safe else base64.standard_b64decode
            raw = decode(padded.encode("ascii"))
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) in DIGEST_BYTES else None


def cert_key_problem(value: str) -> str | None:
    """Why `value` cannot be a certKey (a message that never repeats it), or None if it has
    a hash's shape and hides no ID number."""
    if _BARE_ID.fullmatch(value):
        return f"is an ID number; {AS_HASH}"
    raw = digest_bytes(value)
    if raw is None:
        return (
            "must be the province's hash of ID number and name: hex of 32, 40, 64 or 128 "
            "characters, or standard or url-safe base64 of 16, 20, 32 or 64 bytes"
        )
    # in hex a run of 15 digits is too common by chance to refuse; in base64 it is not
    if holds_id_number(value, old_form=not is_hex(value)):
        return f"holds an ID number; {AS_HASH}"
    if _DIGIT_RUN.search(raw) or _PRINTABLE.fullmatch(raw):
        return f"encodes digits or plain text, not a hash; {AS_HASH}"
    return None
