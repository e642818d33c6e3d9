"""Whether a delivery mark in the ledger is proven: a rating's or a case event's `delivery`
is trusted only with the province's receipt for exactly that row.

Pure. Verify-ledger names every mark that is not proven; retention removes only rows whose
mark is; both ask `mark_problem`, so the two can never disagree on what counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from device.keys import sm2
from device.record.gm_answer import acknowledged, parse_gm_receipt
from device.record.receipt import Acknowledged, Receipt, RecordKind

NO_RECEIPT = "delivered without a valid receipt"
# A 国密 province (gm-soap) answers with its own id of each stored rating inside an answer it
# signs with SM2; the device checks that signature before it marks anything, keeps the signed
# answer (`gm_answers`) and, as the receipt, the id and the answer's digest. Such a mark is
# proven under the province's SM2 key, never under an Ed25519 one: it is reported as what it is.
GM_RECEIPT = (
    "delivered to a 国密 province (its id {unid}): proven by its SM2-signed answer, which "
    "only the province's SM2 key checks (verify-ledger --province-sm2-key), not an Ed25519 key"
)
GM_NO_ANSWER = "delivered to a 国密 province, but the signed answer its receipt names is not kept"
GM_BAD_ANSWER = "the 国密 province's answer kept for this rating is not signed by its SM2 key"
GM_NOT_ACKNOWLEDGED = "the 国密 province's signed answer does not acknowledge this rating so"


@dataclass(frozen=True)
class GmProof:
    """What proves a 国密 province's marks: its SM2 public key (hex) and the signed answers
    kept (digest → (payload, signature))."""

    province_key: str
    answers: Mapping[str, tuple[bytes, bytes]]
    # each answer checked and read once: digest → what it acknowledges (None: not signed)
    _read: dict[str, dict[str, tuple[str, str]] | None] = field(default_factory=dict)

    def acknowledged(self, digest: str) -> dict[str, tuple[str, str]] | None:
        """What the kept answer acknowledges; None when its signature does not verify."""
        if digest not in self._read:
            payload, signature = self.answers[digest]
            verified = sm2.verify(self.province_key, payload, signature)
            self._read[digest] = acknowledged(payload) if verified else None
        return self._read[digest]


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


def mark_problem(
    mark: DeliveryMark, device_id: str, province_key: str | None, gm: GmProof | None = None
) -> str | None:
    """None when the row is not marked, or its mark is proven; otherwise what is wrong.

    Without *province_key* or *gm* (a version-1 province: no receipts) only marks a device
    never sets are problems. With *province_key* every mark needs a receipt under that key for
    this device, this record, its seq and hash: 'exported' included, which no receipt can
    prove. With *gm* (a 国密 province) every mark needs a kept answer signed by its SM2 key
    that acknowledges this rating with this status and the id the receipt names."""
    if mark.delivery is None:
        return None
    if mark.delivery not in KNOWN_MARKS[mark.kind]:
        return unknown_mark(mark.delivery)
    if gm is not None:
        return _gm_problem(mark, gm)
    if province_key is None:
        return None
    gm_receipt = parse_gm_receipt(mark.receipt)
    if gm_receipt is not None:
        return GM_RECEIPT.format(unid=gm_receipt[0][:64])
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


def _gm_problem(mark: DeliveryMark, gm: GmProof) -> str | None:
    parsed = parse_gm_receipt(mark.receipt)
    if parsed is None or mark.delivery not in tuple(Acknowledged):
        return NO_RECEIPT
    unid, digest = parsed
    if digest not in gm.answers:
        return GM_NO_ANSWER
    said = gm.acknowledged(digest)
    if said is None:
        return GM_BAD_ANSWER
    if said.get(mark.record_id) != (mark.delivery, unid):
        return GM_NOT_ACKNOWLEDGED
    return None
