"""The default adapter: the province interface (`POST /evaluations:batch`), version 1 or 1.1.

With a province key pinned at enrolment (1.1), an `accepted`/`duplicate` result is a delivery
only with a receipt that verifies for the exact bytes sent; otherwise it is `unproven` and
sent again. Without a pinned key (a version-1 province) results are taken as they say.
"""

from __future__ import annotations

from collections.abc import Sequence

from device.record.receipt import RecordKind
from sync.adapter import Delivery, OutgoingRecord
from sync.province_client import MAX_BYTES, MAX_RECORDS, ProvinceClient
from sync.receipts import SentRecord, delivery_of


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
        device_id, key = self.client.device_id, self.province_key
        return [
            delivery_of(result, _sent(record), device_id, key)
            for result, record in zip(results, records, strict=True)
        ]

    def close(self) -> None:
        self.client.close()


def _sent(record: OutgoingRecord) -> SentRecord:
    return SentRecord(RecordKind.RATING, record.evaluation_id, record.canonical, record.seq)
