"""One internal record, many provincial wire formats: what every delivery adapter offers.

An adapter takes signed records as the ledger holds them (each one's canonical JSON bytes,
the province spec's RECORD) and says, for each, whether it is now delivered, will never be
accepted as it is, or was acknowledged without proof (`unproven`: sent again).
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
    # said accepted without a receipt that verifies: neither delivered nor quarantined, sent
    # again (never written to the ledger)
    UNPROVEN = "unproven"


DELIVERED = frozenset({DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE, DeliveryStatus.EXPORTED})


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One signed record on its way: its id and its canonical JSON bytes, sent as they are."""

    evaluation_id: str
    canonical: bytes
    seq: int | None = None  # the record's seq, as the ledger holds it (None: read the bytes)


@dataclass(frozen=True)
class Delivery:
    evaluation_id: str
    status: DeliveryStatus
    code: str | None = None  # why it was rejected (or why the receipt is not good)
    message: str | None = None
    receipt: str | None = None  # the province's signature, verified under the pinned key
    received_at: str | None = None  # when the province first stored it, its clock
    # a 国密 province's proof: its answer payload and SM2 signature (verified), kept once
    answer: tuple[bytes, bytes] | None = None

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
