"""Checking a rating sent without the personal data it lost, as verify-ledger and retention
see it: the record sent is rebuilt from the stored rating and the kept key id and signature.

Pure. The signature must be a trusted key's over exactly the stored rating with its personal
fields null; a receipt must name the hash of those bytes, not of the original record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from device.keys.signing import public_key_from_b64, verify_record
from device.record.canonical import sha256_hex
from device.record.without_identity import IdentityLoss, substitute, substitute_bytes

SENT_WITHOUT_IDENTITY = "sent without personal data (identity lost)"


@dataclass(frozen=True)
class SentInstead:
    """What the sync sent in place of a rating whose personal data was lost."""

    key_id: str
    signature: str
    reason: str  # an IdentityLoss value

    def problem(
        self, stored: dict[str, Any], had_identity: bool, keys: dict[str, str]
    ) -> str | None:
        """What is wrong with the record sent in place of *stored*, None when it holds;
        *keys* are the trusted public keys (base64) by key id."""
        if not had_identity:
            return "marked as sent without personal data, but it never had any"
        if self.reason not in tuple(IdentityLoss):
            return f"sent without personal data for an unknown reason {self.reason!r}"
        public_b64 = keys.get(self.key_id)
        if public_b64 is None:
            return f"sent without personal data, signed by unknown key {self.key_id!r}"
        record = substitute(stored, self.key_id, self.signature)
        if not verify_record(public_key_from_b64(public_b64), record):
            return "the record sent without personal data has an invalid signature"
        return None

    def sent_hash(self, stored_text: str) -> str:
        """SHA-256 of the bytes sent: what the province's receipt names."""
        return sha256_hex(substitute_bytes(json.loads(stored_text), self.key_id, self.signature))

    def note(self) -> str:
        """verify-ledger's words for a row whose record sent instead holds."""
        why = IdentityLoss(self.reason).text
        return f"{SENT_WITHOUT_IDENTITY}: {why}; re-signed by key {self.key_id}"
