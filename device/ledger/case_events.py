"""The ledger's case events: cases that left the screen unrated, signed and chained in their
own sequence (`eventSeq`, `prevHash`), and their delivery as the sync records it.

The only code that writes SQL for events. Appending chains and signs in one IMMEDIATE
transaction; a bad overall level pressed settles the case (see `settled`) and bars its
follow-up while it has no rating (see `bad_press_unrated`), so the local API can refuse a
re-push that would hide it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from device.keys.signing import DeviceKey
from device.record.canonical import ZERO_HASH, canonical_json, check_canonical, sha256_hex

if TYPE_CHECKING:
    from device.ledger.store import Ledger

DELIVERED = ("accepted", "duplicate")


@dataclass(frozen=True)
class StoredEvent:
    event_seq: int
    event_id: str
    event: dict[str, Any]  # the full signed wire event


@dataclass(frozen=True)
class UnsentEvent:
    """An event waiting for delivery: its canonical JSON, sent as it is."""

    seq: int  # eventSeq
    record_id: str  # eventId
    canonical: bytes

    @cached_property
    def event(self) -> dict[str, Any]:
        return json.loads(self.canonical)


@dataclass(frozen=True)
class EventAck:
    """The province's acknowledgement of one event, with its receipt when it sent one."""

    event_id: str
    status: str  # accepted or duplicate
    receipt: str | None = None
    received_at: str | None = None


@dataclass(frozen=True)
class EventRow:
    """One stored event as verify reads it."""

    event_seq: int
    event_id: str
    text: str
    event_hash: str


class CaseEvents:
    """The case_events table of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.conn = ledger.conn

    # -- writing ----------------------------------------------------------------------

    def append(self, body: dict[str, Any], key: DeviceKey) -> StoredEvent:
        """Chain, sign and durably commit one event; return it once it is on disk."""
        with self.ledger.writing("case event not stored"):
            self.ledger.remember_key(key, body.get("deviceId"))
            seq, prev_hash = self._chain_end()
            event = {**body, "eventSeq": seq + 1, "prevHash": prev_hash, "keyId": key.key_id}
            event.pop("signature", None)
            check_canonical(event)
            event["signature"] = key.sign_record(event, checked=True)
            text = canonical_json(event, checked=True)
            self.conn.execute(  # the case has ended: a bad press held for it is on record now
                "DELETE FROM pending_bad_presses WHERE project_no = ? AND assess_number = ?",
                (event["projectNo"], event["assessNumber"]),
            )
            self.conn.execute(
                "INSERT INTO case_events (event_seq, event_id, kind, project_no, assess_number,"
                " level_pressed, event, event_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq + 1,
                    event["eventId"],
                    event["kind"],
                    event["projectNo"],
                    event["assessNumber"],
                    event["levelPressed"],
                    text.decode("utf-8"),
                    sha256_hex(text),
                ),
            )
        return StoredEvent(seq + 1, event["eventId"], event)

    def hold_bad_press(self, body: dict[str, Any]) -> None:
        """Keep an unsigned `out_of_service` event for a case whose rater pressed a bad level
        and has not finished: stored for real (`recover_held`) if the device stops before the
        case ends; dropped when the case ends as a rating or an event."""
        with self.ledger.writing("bad press not held"):
            self.conn.execute(
                "INSERT OR REPLACE INTO pending_bad_presses (project_no, assess_number, event)"
                " VALUES (?, ?, ?)",
                (body["projectNo"], body["assessNumber"], canonical_json(body).decode("utf-8")),
            )

    def recover_held(self, key: DeviceKey, ended_at: str) -> int:
        """At start: every bad press held when the device stopped becomes its case event,
        `endedAt` the time the device found it unfinished. Returns how many."""
        rows = self.conn.execute("SELECT event FROM pending_bad_presses").fetchall()
        for (text,) in rows:
            body = {**json.loads(text), "endedAt": ended_at}
            self.append(body, key)  # deletes the held row in the same transaction
        return len(rows)

    def delivered(self, acks: Iterable[EventAck], delivered_at: str) -> int:
        """Record the province's acknowledgements (and receipts); returns how many events
        became delivered. An event already delivered keeps its first answer."""
        rows = [(a.status, delivered_at, a.receipt, a.received_at, a.event_id) for a in acks]
        if any(row[0] not in DELIVERED for row in rows):
            raise ValueError(f"delivery status must be one of {DELIVERED}")
        with self.ledger.writing("event delivery not recorded"):
            return self.conn.executemany(
                "UPDATE case_events SET delivery = ?, delivered_at = ?, receipt = ?,"
                " received_at = ? WHERE event_id = ? AND delivery IS NULL",
                rows,
            ).rowcount

    def quarantine(self, rejections: dict[str, tuple[str, str]]) -> None:
        """Set rejected events aside with the province's code and message; never deleted."""
        with self.ledger.writing("event quarantine not recorded"):
            self.conn.executemany(
                "UPDATE case_events SET quarantine_code = ?, quarantine_message = ?"
                " WHERE event_id = ? AND delivery IS NULL",
                [(code, message, eid) for eid, (code, message) in rejections.items()],
            )

    # -- reading ----------------------------------------------------------------------

    def _chain_end(self) -> tuple[int, str]:
        row = self.conn.execute(
            "SELECT event_seq, event_hash FROM case_events ORDER BY event_seq DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else (0, ZERO_HASH)

    def unsent(
        self, limit: int, max_bytes: int | None = None, *, after_seq: int = 0
    ) -> list[UnsentEvent]:
        """The oldest undelivered events (after *after_seq*) in eventSeq order, at most
        *max_bytes* of canonical JSON (and a comma each), but always at least one."""
        rows = self.conn.execute(
            "SELECT event_seq, event_id, CAST(event AS BLOB) FROM case_events"
            " WHERE delivery IS NULL AND quarantine_code IS NULL AND event_seq > ?"
            " ORDER BY event_seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        out: list[UnsentEvent] = []
        used = 0
        for seq, event_id, canonical in rows:
            used += len(canonical) + 1
            if max_bytes is not None and used > max_bytes and out:
                break
            out.append(UnsentEvent(seq, event_id, canonical))
        return out

    def all(self) -> list[dict[str, Any]]:
        """Every stored event, oldest first."""
        rows = self.conn.execute("SELECT event FROM case_events ORDER BY event_seq").fetchall()
        return [json.loads(text) for (text,) in rows]

    def delivery_of(self, event_id: str) -> tuple[str | None, str | None]:
        """(delivery, receipt) of one event; KeyError if there is no such event."""
        row = self.conn.execute(
            "SELECT delivery, receipt FROM case_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is None:
            raise KeyError(event_id)
        return row[0], row[1]

    def backlog(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM case_events WHERE delivery IS NULL AND quarantine_code IS NULL"
        ).fetchone()[0]

    def quarantined(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM case_events WHERE quarantine_code IS NOT NULL"
        ).fetchone()[0]

    def oldest_unsent_ended_at(self) -> str | None:
        row = self.conn.execute(
            "SELECT json_extract(event, '$.endedAt') FROM case_events"
            " WHERE delivery IS NULL AND quarantine_code IS NULL ORDER BY event_seq LIMIT 1"
        ).fetchone()
        return None if row is None else row[0]

    def rows(self) -> list[EventRow]:
        return [
            EventRow(*row)
            for row in self.conn.execute(
                "SELECT event_seq, event_id, event, event_hash FROM case_events ORDER BY event_seq"
            )
        ]

    def settled(self, project_nos: Iterable[str], assess_number: int) -> bool:
        """Whether any of these case numbers, with this assessNumber, already has a rating in
        the ledger or a bad overall level pressed recorded in an event."""
        numbers = sorted(set(project_nos))
        if not numbers:
            return False
        marks = ",".join("?" * len(numbers))
        row = self.conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM settled_cases WHERE assess_number = ?"  # noqa: S608
            f" AND project_no IN ({marks}))",
            (assess_number, *numbers),
        ).fetchone()
        return bool(row[0])

    def bad_press_unrated(self, project_nos: Iterable[str]) -> bool:
        """Whether any of these case numbers had a bad overall level (1 or 2) pressed at
        assessNumber 1, recorded in an event, and has no rating with assessNumber 1 in the
        ledger: a follow-up (assessNumber 2) of it would hide the bad press."""
        numbers = sorted(set(project_nos))
        if not numbers:
            return False
        marks = ",".join("(?)" for _ in numbers)
        row = self.conn.execute(
            f"WITH pushed(project_no) AS (VALUES {marks}),"  # noqa: S608
            " bad_events(project_no, batch) AS ("
            "  SELECT project_no, json_extract(event, '$.batchProjectNos') FROM case_events"
            "  WHERE assess_number = 1 AND level_pressed IN (1, 2)"
            "  UNION ALL"
            "  SELECT project_no, json_extract(event, '$.batchProjectNos') FROM case_outcomes"
            "  WHERE json_extract(event, '$.assessNumber') = 1"
            "  AND json_extract(event, '$.levelPressed') IN (1, 2)),"
            " bad(project_no) AS ("
            "  SELECT project_no FROM bad_events UNION"
            "  SELECT j.value FROM bad_events b, json_each(coalesce(b.batch, json_array())) j)"
            " SELECT EXISTS (SELECT 1 FROM pushed p"
            "  WHERE p.project_no IN (SELECT project_no FROM bad)"
            "  AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.assess_number = 1"
            "   AND (r.project_no = p.project_no OR EXISTS (SELECT 1 FROM json_each(coalesce("
            "   json_extract(r.record, '$.batchProjectNos'), json_array()))"
            "   WHERE value = p.project_no))))",
            numbers,
        ).fetchone()
        return bool(row[0])
