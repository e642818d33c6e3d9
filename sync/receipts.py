"""Checking the province's receipt (spec v1.1) for one record the device sent: ratings and
case events alike. Pure.

A result counts as a delivery only if its receipt is the pinned province key's signature over
this device, this record (id, sequence, SHA-256 of the exact bytes sent) and the status and
`receivedAt` the result states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from device.errors import HaochapingError
from device.record.canonical import sha256_hex
from device.record.receipt import Acknowledged, Receipt, RecordKind
from sync.adapter import Delivery, DeliveryStatus
from sync.answers import server_time

SEQ_FIELD = {RecordKind.RATING: "seq", RecordKind.EVENT: "eventSeq"}


class ReceiptError(HaochapingError):
    """A result said accepted or duplicate without a receipt that proves it."""

    code = "E_RECEIPT"


@dataclass(frozen=True, slots=True)
class SentRecord:
    """What the device sent: the record's id, its sequence (None: read it from the bytes) and
    its canonical bytes exactly as sent, signature included."""

    kind: RecordKind
    record_id: str
    canonical: bytes
    seq: int | None = None

    def sequence(self) -> int:
        if self.seq is not None:
            return self.seq
        value = json.loads(self.canonical).get(SEQ_FIELD[self.kind])
        if not isinstance(value, int) or isinstance(value, bool):
            raise ReceiptError(f"record {self.record_id} has no {SEQ_FIELD[self.kind]} to match")
        return value


def checked_receipt(
    result: Mapping[str, Any], sent: SentRecord, device_id: str, province_key: str
) -> Receipt:
    """The receipt of an `accepted`/`duplicate` *result* for *sent*, verified under the
    pinned *province_key*; raises ReceiptError saying what is wrong otherwise."""
    status = result.get("status")
    if status not in tuple(Acknowledged):
        raise ReceiptError(f"{sent.record_id}: status {status!r} is not an acknowledgement")
    received_at = result.get("receivedAt")
    if not isinstance(received_at, str) or server_time(received_at) is None:
        raise ReceiptError(f"{sent.record_id}: acknowledged without a valid receivedAt")
    signature = result.get("receipt")
    if not isinstance(signature, str) or not signature:
        raise ReceiptError(f"{sent.record_id}: acknowledged without a receipt")
    receipt = Receipt(
        sent.kind,
        device_id,
        sent.record_id,
        sent.sequence(),
        sha256_hex(sent.canonical),
        Acknowledged(status),
        received_at,
        signature,
    )
    if not receipt.verifies(province_key):
        raise ReceiptError(
            f"{sent.record_id}: the receipt does not verify under the pinned province key "
            "for the record sent"
        )
    return receipt


ACKNOWLEDGED = (DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE)


def delivery_of(
    result: Mapping[str, Any], sent: SentRecord, device_id: str, province_key: str | None
) -> Delivery:
    """The province's answer for one record sent, rating or case event alike: anything but
    accepted or duplicate is a rejection; with a pinned *province_key* an acknowledgement
    counts only with its receipt (otherwise `unproven`, sent again); without one (a
    version-1 province) it is taken as it says."""
    status = result.get("status")
    if status not in ACKNOWLEDGED:
        return Delivery(
            sent.record_id,
            DeliveryStatus.REJECTED,
            str(result.get("code", "E_UNKNOWN"))[:64],
            str(result.get("message", ""))[:200],
        )
    if province_key is None:
        return Delivery(sent.record_id, DeliveryStatus(status))
    try:
        receipt = checked_receipt(result, sent, device_id, province_key)
    except ReceiptError as exc:
        return Delivery(sent.record_id, DeliveryStatus.UNPROVEN, exc.code, str(exc))
    return Delivery(
        sent.record_id,
        DeliveryStatus(status),
        receipt=receipt.signature,
        received_at=receipt.received_at,
    )
