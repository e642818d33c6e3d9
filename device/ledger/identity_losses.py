"""Ratings sent without the rater's personal data, because it could not be restored: the
record sent in their place, kept in `identity_losses`, and the device-side list of them.

When a rating's sealed personal data is gone or does not open, the sync signs the same
rating with the personal fields null under the device's current key, and keeps that key id
and signature here *before* the record leaves: every resend is then the same bytes (the
province answers `duplicate`, never a second copy), a receipt names exactly those bytes, and
verify-ledger can rebuild and check them. The original row, its seal and its hash stay as
they were, so the chain on the device still verifies.

Each loss is one entry of a list the technician reads (`haochaping-sync identity-lost`,
counted by `status`). It is not a case event: the spec's case-event kinds say what happened
to a case at the window, a province rejects a kind it does not know, and the rating itself
does reach the province.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from device.keys.signing import DeviceKey
from device.record.without_identity import IdentityLoss, substitute_bytes, unsigned_substitute

if TYPE_CHECKING:
    from device.ledger.store import Ledger


@dataclass(frozen=True)
class Resigner:
    """What the sync lends the outbox to send a rating whose personal data is lost: the
    device's current key and its clock."""

    key: DeviceKey
    now: Callable[[], datetime]


@dataclass(frozen=True)
class NewLoss:
    """A loss found while reading the outbox, with the record to send in its place."""

    seq: int
    evaluation_id: str
    reason: IdentityLoss
    key_id: str
    signature: str
    canonical: bytes  # the bytes sent


@dataclass(frozen=True)
class LossEntry:
    """One rating sent (or to be sent) without personal data, as the technician sees it."""

    seq: int
    evaluation_id: str
    project_no: str
    reason: str  # an IdentityLoss value
    noted_at: str
    key_id: str
    delivery: str | None  # accepted, duplicate, exported; None while waiting or quarantined
    quarantine_code: str | None

    @property
    def reason_text(self) -> str:
        try:
            return IdentityLoss(self.reason).text
        except ValueError:  # not a value the device writes
            return f"reason {self.reason!r}"

    @property
    def state(self) -> str:
        if self.delivery is not None:
            return f"sent ({self.delivery})"
        if self.quarantine_code is not None:
            return f"quarantined ({self.quarantine_code})"
        return "waiting"

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "evaluationId": self.evaluation_id,
            "projectNo": self.project_no,
            "reason": self.reason,
            "notedAt": self.noted_at,
            "keyId": self.key_id,
            "delivery": self.delivery,
            "quarantineCode": self.quarantine_code,
        }


@dataclass(frozen=True)
class LossCounts:
    sent: int  # delivered without personal data
    waiting: int  # to be sent without personal data
    quarantined: int  # sent without personal data and rejected by the province


def resign(
    seq: int, evaluation_id: str, stored: bytes, reason: IdentityLoss, key: DeviceKey
) -> NewLoss:
    """The rating's stored record (personal fields null) signed anew by *key*."""
    record = json.loads(stored)
    signature = key.sign_record(unsigned_substitute(record, key.key_id))
    canonical = substitute_bytes(record, key.key_id, signature)
    return NewLoss(seq, evaluation_id, reason, key.key_id, signature, canonical)


class IdentityLosses:
    """The identity_losses table of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.conn = ledger.conn

    def keep(self, losses: list[NewLoss], resigner: Resigner) -> None:
        """Store what will be sent in place of each rating, in one transaction, before any
        of it leaves the device."""
        noted_at = resigner.now().isoformat(timespec="seconds")
        with self.ledger.writing("identity loss not recorded"):
            device_ids = self.conn.execute(
                "SELECT DISTINCT device_id FROM device_keys WHERE device_id IS NOT NULL"
            ).fetchall()
            self.ledger.remember_key(resigner.key, device_ids[0][0] if device_ids else None)
            self.conn.executemany(
                "INSERT INTO identity_losses (seq, reason, noted_at, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?)",
                [(x.seq, x.reason.value, noted_at, x.key_id, x.signature) for x in losses],
            )

    def entries(self) -> list[LossEntry]:
        rows = self.conn.execute(
            "SELECT r.seq, r.evaluation_id, r.project_no, l.reason, l.noted_at, l.key_id,"
            " r.delivery, r.quarantine_code"
            " FROM identity_losses l JOIN ratings r ON r.seq = l.seq ORDER BY r.seq"
        ).fetchall()
        return [LossEntry(*row) for row in rows]

    def counts(self) -> LossCounts:
        sent, waiting, quarantined = self.conn.execute(
            "SELECT count(r.delivery),"
            " count(*) FILTER (WHERE r.delivery IS NULL AND r.quarantine_code IS NULL),"
            " count(*) FILTER (WHERE r.delivery IS NULL AND r.quarantine_code IS NOT NULL)"
            " FROM identity_losses l JOIN ratings r ON r.seq = l.seq"
        ).fetchone()
        return LossCounts(sent, waiting, quarantined)
