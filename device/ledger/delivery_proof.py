"""Whether a delivery mark in the ledger is proven: a rating's or a case event's `delivery`
is trusted only with the province's receipt for exactly that row.

Pure. Verify-ledger names every mark that is not proven; retention removes only rows whose
mark is; both ask `mark_problem`, so the two can never disagree on what counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.record.receipt import Acknowledged, Receipt, RecordKind

NO_RECEIPT = "delivered without a valid receipt"
# A 国密 province (gm-soap) answers with its own id of each stored rating inside an answer it
# signs with SM2; the device checks that signature before it marks anything and keeps the id
# (this prefix, then the id) as the receipt. The signed answer itself is not kept, so the mark
# cannot be re-checked here under an Ed25519 province key: it is reported as what it is.
GM_RECEIPT_PREFIX = "gm-sm2:"
GM_RECEIPT = (
    "delivered to a 国密 province (its id {unid}): the SM2-signed answer was checked at "
    "delivery and is not kept, so no Ed25519 province key can prove this mark"
)
# What each kind of row may be marked: 'exported' only by the export adapter, which carries
# no case events.
KNOWN_MARKS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.RATING: ("accepted", "duplicate", "exported"),
    RecordKind.EVENT: ("accepted", "duplicate"),
}


@dataclass(frozen=True)
class DeliveryMark:
    """One row's delivery mark and the receipt kept with it."""

    kind: RecordKind
    record_id: str  # evaluationId or eventId
    seq: int  # seq or eventSeq
    record_hash: str  # record_hash or event_hash
    delivery: str | None  # None before delivery
    receipt: str | None = None
    received_at: str | None = None


def unknown_mark(delivery: str) -> str:
    return f"delivery mark {delivery!r} is not one a device sets"


def mark_problem(mark: DeliveryMark, device_id: str, province_key: str | None) -> str | None:
    """None when the row is not marked, or its mark is proven; otherwise what is wrong.

    Without *province_key* (a version-1 province: no receipts) only marks a device never sets
    are problems. With it every mark needs a receipt under that key for this device, this
    record, its seq and hash: 'exported' included, which no receipt can prove."""
    if mark.delivery is None:
        return None
    if mark.delivery not in KNOWN_MARKS[mark.kind]:
        return unknown_mark(mark.delivery)
    if province_key is None:
        return None
    if mark.receipt is not None and mark.receipt.startswith(GM_RECEIPT_PREFIX):
        return GM_RECEIPT.format(unid=mark.receipt[len(GM_RECEIPT_PREFIX) :][:64])
    if mark.delivery not in tuple(Acknowledged):
        return NO_RECEIPT
    receipt = Receipt(
        mark.kind,
        device_id,
        mark.record_id,
        mark.seq,
        mark.record_hash,
        Acknowledged(mark.delivery),
        mark.received_at or "",
        mark.receipt or "",
    )
    return None if receipt.verifies(province_key) else NO_RECEIPT
