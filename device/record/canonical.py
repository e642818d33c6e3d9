"""Canonical JSON bytes and hashes, exactly as the provincial interface defines them.

Pure functions only: every signature and every chain link in the product is computed
over the bytes these return.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from device.errors import HaochapingError

ZERO_HASH = "0" * 64


class NotCanonicalError(HaochapingError, ValueError):
    """A value that has no canonical form (floats, tuples of bytes, …)."""

    code = "E_NOT_CANONICAL"


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise NotCanonicalError(f"{where}: floats are not allowed in canonical JSON")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalError(f"{where}: object keys must be strings")
            _check(item, f"{where}.{key}")
        return
    raise NotCanonicalError(f"{where}: {type(value).__name__} is not a JSON value")


def check_canonical(obj: Any) -> None:
    """Raise NotCanonicalError if *obj* holds anything but the spec's JSON values."""
    _check(obj, "$")


def canonical_json(obj: Any, *, checked: bool = False) -> bytes:
    """Return the canonical UTF-8 bytes of *obj* (sorted keys, no spaces, no ASCII escaping).

    checked=True skips the value walk for objects already passed through check_canonical
    (the ledger's hot path encodes one record four ways)."""
    if not checked:
        _check(obj, "$")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of *data*."""
    return hashlib.sha256(data).hexdigest()


def record_hash(record: dict[str, Any], *, checked: bool = False) -> str:
    """Hash of a signed record's canonical bytes: what the next record's prevHash holds."""
    return sha256_hex(canonical_json(record, checked=checked))


def signing_bytes(record: dict[str, Any], *, checked: bool = False) -> bytes:
    """The bytes a record signature covers: the record without its signature field."""
    return canonical_json({k: v for k, v in record.items() if k != "signature"}, checked=checked)
