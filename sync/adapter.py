"""One internal record, many provincial wire formats: what every delivery adapter offers.

An adapter takes signed records as the ledger holds them (each one's canonical JSON bytes,
the province spec's RECORD) and says, for each, whether it is now delivered or will never
be accepted as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class DeliveryStatus(StrEnum):
    """What became of one record; the values are the ledger's `delivery` column."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the province (or the export file) holds it already
    EXPORTED = "exported"
    REJECTED = "rejected"  # never delivered as it is: quarantine


DELIVERED = frozenset({DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE, DeliveryStatus.EXPORTED})


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One signed record on its way: its id and its canonical JSON bytes, sent as they are."""

    evaluation_id: str
    canonical: bytes


@dataclass(frozen=True)
class Delivery:
    evaluation_id: str
    status: DeliveryStatus
    code: str | None = None  # why it was rejected
    message: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED


class Adapter(Protocol):
    name: str
    max_records: int
    max_bytes: int

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        """One Delivery per record, in order; raise sync.province_client.ProvinceError
        subclasses when the whole batch was not taken (retry later or call an operator)."""
        ...

    def close(self) -> None: ...
