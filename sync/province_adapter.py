"""The default adapter: the province interface of version 1 (`POST /evaluations:batch`)."""

from __future__ import annotations

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
        results = self.client.post_batch(records)
        out = []
        for result in results:
            status = result.get("status")
            if status in ("accepted", "duplicate"):
                out.append(Delivery(result["evaluationId"], status))
            else:
                out.append(
                    Delivery(
                        result["evaluationId"],
                        "rejected",
                        str(result.get("code", "E_UNKNOWN")),
                        str(result.get("message", "")),
                    )
                )
        return out

    def close(self) -> None:
        self.client.close()
