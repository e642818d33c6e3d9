"""One internal record, many provincial wire formats: what every delivery adapter offers.

An adapter takes signed records (the province spec's RECORD, the device's internal form)
and says, for each, whether it is now delivered or will never be accepted as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DELIVERED = ("accepted", "duplicate", "exported")


@dataclass(frozen=True)
class Delivery:
    evaluation_id: str
    status: str  # accepted, duplicate, exported (delivered) or rejected (quarantine)
    code: str | None = None
    message: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED


class Adapter(Protocol):
    name: str
    max_records: int
    max_bytes: int

    def deliver(self, records: list[dict[str, Any]]) -> list[Delivery]:
        """Deliver in order; raise sync.province_client.ProvinceError subclasses when the
        whole batch was not taken (retry later or call an operator)."""
        ...

    def close(self) -> None: ...
