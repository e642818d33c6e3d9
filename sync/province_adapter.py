"""The default adapter: the province interface (`POST /evaluations:batch`), version 1 or 1.1.

With a province key pinned at enrolment (1.1), an `accepted`/`duplicate` result is a delivery
only with a receipt that verifies for the exact bytes sent; otherwise it is `unproven` and
sent again. Without a pinned key (a version-1 province) results are taken as they say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from device.record.receipt import RecordKind
from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.province_client import MAX_BYTES, MAX_RECORDS, ProvinceClient
from sync.receipts import ReceiptError, SentRecord, checked_receipt

TAKEN = (DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE)


class ProvinceAdapter:
    name = "province-v1"
    max_records = MAX_RECORDS
    max_bytes = MAX_BYTES

    def __init__(self, client: ProvinceClient, province_key: str | None = None) -> None:
        """*province_key*: the key pinned at enrolment (base64); None for a version-1 province."""
        self.client = client
        self.province_key = province_key

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        results = self.client.post_batch(records)
        return [
            self._delivery(result, record) for result, record in zip(results, records, strict=True)
        ]

    def close(self) -> None:
        self.client.close()

    def _delivery(self, result: dict[str, Any], record: OutgoingRecord) -> Delivery:
        """The province's answer for one record; anything but accepted or duplicate is a
        rejection, and with a pinned key an acknowledgement needs its receipt."""
        status = result.get("status")
        if status not in TAKEN:
            return Delivery(
                record.evaluation_id,
                DeliveryStatus.REJECTED,
                str(result.get("code", "E_UNKNOWN")),
                str(result.get("message", "")),
            )
        if self.province_key is None:
            return Delivery(record.evaluation_id, DeliveryStatus(status))
        sent = SentRecord(RecordKind.RATING, record.evaluation_id, record.canonical, record.seq)
        try:
            receipt = checked_receipt(result, sent, self.client.device_id, self.province_key)
        except ReceiptError as exc:
            return Delivery(record.evaluation_id, DeliveryStatus.UNPROVEN, exc.code, str(exc))
        return Delivery(
            record.evaluation_id,
            DeliveryStatus(status),
            receipt=receipt.signature,
            received_at=receipt.received_at,
        )
