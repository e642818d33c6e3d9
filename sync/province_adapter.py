"""The default adapter: the province interface of version 1 (`POST /evaluations:batch`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.province_client import MAX_BYTES, MAX_RECORDS, ProvinceClient

TAKEN = (DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE)


class ProvinceAdapter:
    name = "province-v1"
    max_records = MAX_RECORDS
    max_bytes = MAX_BYTES

    def __init__(self, client: ProvinceClient) -> None:
        self.client = client

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        return [_delivery(result) for result in self.client.post_batch(records)]

    def close(self) -> None:
        self.client.close()


def _delivery(result: dict[str, Any]) -> Delivery:
    """The province's answer for one record; anything but accepted or duplicate is a
    rejection."""
    status = result.get("status")
    if status in TAKEN:
        return Delivery(result["evaluationId"], DeliveryStatus(status))
    return Delivery(
        result["evaluationId"],
        DeliveryStatus.REJECTED,
        str(result.get("code", "E_UNKNOWN")),
        str(result.get("message", "")),
    )
