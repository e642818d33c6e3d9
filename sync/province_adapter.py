"""The default adapter: the province interface of version 1 (`POST /evaluations:batch`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.adapter import Delivery
from sync.province_client import MAX_BYTES, MAX_RECORDS, ProvinceClient


class ProvinceAdapter:
    name = "province-v1"
    max_records = MAX_RECORDS
    max_bytes = MAX_BYTES

    def __init__(self, client: ProvinceClient) -> None:
        self.client = client

    def deliver(self, records: list[dict[str, Any]]) -> list[Delivery]:
        return [_delivery(result) for result in self.client.post_batch(records)]

    def deliver_canonical(self, records: Sequence[tuple[str, bytes]]) -> list[Delivery]:
        """deliver() for records already encoded: (evaluationId, canonical JSON bytes)."""
        return [_delivery(result) for result in self.client.post_canonical(records)]

    def close(self) -> None:
        self.client.close()


def _delivery(result: dict[str, Any]) -> Delivery:
    status = result.get("status")
    if status in ("accepted", "duplicate"):
        return Delivery(result["evaluationId"], status)
    return Delivery(
        result["evaluationId"],
        "rejected",
        str(result.get("code", "E_UNKNOWN")),
        str(result.get("message", "")),
    )
