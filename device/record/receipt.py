"""The province's signed receipt for a rating or a case event (spec v1.1).

Pure. A receipt is the province key's Ed25519 signature over the canonical JSON of what it
acknowledges: which device, which record (by id, sequence and hash of the exact bytes sent),
whether it was new or a duplicate, and when the province first stored it. A device marks a
record delivered only with a receipt that verifies under the key pinned at enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from device.keys.signing import public_key_from_b64, verify
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
        try:
            public = public_key_from_b64(province_key_b64)
        except ValueError:
            return False
        return bool(self.signature) and verify(public, self.signature, self.signed_bytes())
