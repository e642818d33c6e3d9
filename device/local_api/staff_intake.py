"""Validation of a staff sign-in pushed to the evaluator: 工号, name and an optional photo.

Pure: a JSON object in, a `Staff` out, or a `CaseError` naming the bad field.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from device.local_api.case_intake import CaseError, check_keys, json_object, required_text
from device.record.rating import Staff

MAX_PHOTO = 256 * 1024  # decoded bytes
MAX_PHOTO_BASE64 = 4 * -(-MAX_PHOTO // 3)
PHOTO_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
# The same rule for the OpenAPI document: base64 beginning with either magic.
PHOTO_PATTERN = (
    r"^(iVBORw0KGg[o-r][A-Za-z0-9+/]|/9j/)"
    r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
)
_PHOTO = re.compile(PHOTO_PATTERN)
SIGN_IN_FIELDS = frozenset({"proManagerNo", "proManager", "photo"})


def parse_staff(body: Any) -> Staff:
    fields = json_object(body, "$")
    check_keys(fields, SIGN_IN_FIELDS)
    return Staff(
        number=required_text(fields, "proManagerNo"),
        name=required_text(fields, "proManager"),
        photo=_photo(fields.get("photo")),
    )


def _photo(value: Any) -> bytes | None:
    """Standard base64 (no line breaks, no data: prefix) of a PNG or JPEG file."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise CaseError("photo", "must be a base64 string")
    if len(value) > MAX_PHOTO_BASE64:
        raise CaseError("photo", f"must be at most {MAX_PHOTO // 1024} KiB")
    if not _PHOTO.fullmatch(value):
        raise CaseError("photo", "must be standard base64 of a PNG or JPEG file")
    photo = base64.b64decode(value, validate=True)
    if len(photo) > MAX_PHOTO:
        raise CaseError("photo", f"must be at most {MAX_PHOTO // 1024} KiB")
    if not photo.startswith(PHOTO_MAGIC):  # implied by the pattern; checked on the bytes too
        raise CaseError("photo", "must be standard base64 of a PNG or JPEG file")
    return photo
