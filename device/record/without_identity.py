"""The record sent in place of a rating whose rater's personal data can no longer be restored.

Pure. It is the same rating (evaluationId, seq, prevHash, levels, reasons, times, source …)
with the personal fields null, signed anew by the device's current key: the original
signature covers the personal fields, so without them only a new signature can make the
record verify. Its chain fields stay those of the original, whose hash the ledger keeps,
so the next rating's prevHash names the original and the province sees a fork there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from device.record.canonical import canonical_json
from device.record.rating import PERSONAL_FIELDS


class IdentityLoss(StrEnum):
    """Why a rating's personal data cannot be restored; the value is what the ledger keeps."""

    SEALED_ROW_MISSING = "sealed_row_missing"
    DOES_NOT_OPEN = "does_not_open"

    @property
    def text(self) -> str:
        if self is IdentityLoss.SEALED_ROW_MISSING:
            return "its encrypted personal data is missing"
        return "its encrypted personal data does not open with the identity key"


def unsigned_substitute(stored: dict[str, Any], key_id: str) -> dict[str, Any]:
    """The record to sign: *stored* (the ledger's copy, personal fields already null) under
    *key_id*, without a signature."""
    record = {name: value for name, value in stored.items() if name != "signature"}
    for name in PERSONAL_FIELDS:
        record[name] = None
    record["keyId"] = key_id
    return record


def substitute(stored: dict[str, Any], key_id: str, signature: str) -> dict[str, Any]:
    """The record as sent: the unsigned substitute and its signature by *key_id*."""
    return {**unsigned_substitute(stored, key_id), "signature": signature}


def substitute_bytes(stored: dict[str, Any], key_id: str, signature: str) -> bytes:
    """The canonical bytes sent: what the province's receipt hashes."""
    return canonical_json(substitute(stored, key_id, signature))
