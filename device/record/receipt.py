"""The province's signed receipt for a rating or a case event (spec v1.1).

Pure. A receipt is the province key's Ed25519 signature over the canonical JSON of what it
acknowledges: which device, which record (by id, sequence and hash of the exact bytes sent),
whether it was new or a duplicate, and when the province first stored it. A device marks a
record delivered only with a receipt that verifies under the key pinned at enrolment.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from device.record.canonical import canonical_json


class Acknowledged(StrEnum):
    """What a receipt may say of a record."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


class RecordKind(StrEnum):
    """Ratings are named by `evaluationId`, case events by `eventId`."""

    RATING = "evaluationId"
    EVENT = "eventId"


@dataclass(frozen=True)
class Receipt:
    """One acknowledgement as the province sent it."""

    kind: RecordKind
    device_id: str
    record_id: str
    seq: int  # `seq` of a rating, `eventSeq` of an event
    record_hash: str  # hex SHA-256 of the canonical bytes sent, signature included
    status: Acknowledged
    received_at: str  # yyyy-MM-dd HH:mm:ss, Beijing time, the province's clock
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return canonical_json(
            {
                "deviceId": self.device_id,
                self.kind.value: self.record_id,
                "seq": self.seq,
                "recordHash": self.record_hash,
                "status": self.status.value,
                "receivedAt": self.received_at,
            }
        )

    def verifies(self, province_key_b64: str) -> bool:
        """True only for the pinned province key's signature over exactly these fields."""
        key = _province_key(province_key_b64)
        if key is None or not self.signature:
            return False
        try:
            key.verify(self.signed_bytes(), base64.b64decode(self.signature, validate=True))
        except (BadSignatureError, ValueError, TypeError):
            return False
        return True


@lru_cache(maxsize=4)
def _province_key(province_key_b64: str) -> VerifyKey | None:
    """The pinned key, parsed once. libsodium verifies in about half the time OpenSSL takes
    here, and a delivery checks one receipt per record."""
    try:
        raw = base64.b64decode(province_key_b64, validate=True)
        return VerifyKey(raw) if len(raw) == 32 else None
    except (ValueError, TypeError):
        return None
