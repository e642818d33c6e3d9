"""The ledger: every rating, signed and hash-chained, committed to SQLite before thanks.

One row per rating in seq order. Personal data is kept apart, encrypted, and deleted when
the province acknowledges the rating; a device seal keeps purged rows verifiable.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from device.keys.identity_vault import IdentityVault
from device.keys.key_history import KeyEntry
from device.keys.signing import DeviceKey
from device.ledger import migrations
from device.record.canonical import ZERO_HASH, canonical_json, check_canonical, record_hash
from device.record.rating import join_identity, split_identity

DELIVERED = ("accepted", "duplicate", "exported")
QUIET_CHECKPOINT_EVERY = 32  # ratings between WAL checkpoints when the owner checkpoints
MARK_CHUNK = 100  # deliveries per transaction: the evaluator's commits never wait long
MARK_BY_ID = (
    "UPDATE ratings SET delivery = ?, delivered_at = ? WHERE evaluation_id = ? AND delivery IS NULL"
)
PURGE_BY_ID = (
    "DELETE FROM rater_identities WHERE seq = (SELECT seq FROM ratings WHERE evaluation_id = ?)"
)
MARK_BY_SEQ = (
    "UPDATE ratings SET delivery = ?, delivered_at = ?"
    " WHERE seq = ? AND evaluation_id = ? AND delivery IS NULL"
)
PURGE_BY_SEQ = (
    "DELETE FROM rater_identities WHERE seq ="
    " (SELECT seq FROM ratings WHERE seq = ? AND evaluation_id = ?)"
)


class LedgerError(Exception):
    """The ledger cannot store or read a rating (disk full, read-only, corrupt)."""


@dataclass(frozen=True)
class StoredRating:
    seq: int
    evaluation_id: str
    record: dict[str, Any]  # the full signed wire record


@dataclass(frozen=True)
class UnsentRating:
    """A rating waiting for delivery: the full signed wire record as its canonical JSON,
    which the sync sends as it is; `record` parses it for those who want a dict."""

    seq: int
    evaluation_id: str
    canonical: bytes

    @cached_property
    def record(self) -> dict[str, Any]:
        return json.loads(self.canonical)


def seal_bytes(
    redacted: dict[str, Any], full_hash: str, has_identity: bool, *, checked: bool = False
) -> bytes:
    """What the device seal covers: the stored record, the full record's hash, and whether
    personal data was split off it."""
    return canonical_json(
        {"hasIdentity": has_identity, "record": redacted, "recordHash": full_hash},
        checked=checked,
    )


def connect(
    path: Path, *, readonly: bool = False, busy_timeout_s: float = 5.0
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with durable settings."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=busy_timeout_s,
            check_same_thread=False,
        )
    else:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Ledger:
    def __init__(
        self, path: Path, *, busy_timeout_s: float = 5.0, auto_checkpoint: bool = True
    ) -> None:
        """auto_checkpoint=False: commits never copy the WAL back into the database (which
        costs extra fsyncs); the owner calls checkpoint() at a quiet moment instead."""
        self.path = path
        try:
            self.conn = connect(path, busy_timeout_s=busy_timeout_s)
            migrations.apply(self.conn)
            if not auto_checkpoint:
                self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
        self.db = Database(self.conn)
        self._known_keys: set[str] = set()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """One write transaction, taken IMMEDIATE so a busy reader never forces a retry of
        half a write; any SQLite failure (disk full, read-only) becomes a LedgerError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(f"{what}: {exc}") from exc

    def record_key(self, entry: KeyEntry, device_id: str) -> None:
        """Keep a public key and its certificate (key history), so every rating it signs
        verifies from the enrolled key on."""
        with self.writing("key not recorded"):
            self.conn.execute(
                "INSERT INTO device_keys (key_id, public_key, previous_key_id, issued_at,"
                " certificate, device_id) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key_id) DO UPDATE SET previous_key_id = excluded.previous_key_id,"
                " issued_at = excluded.issued_at, certificate = excluded.certificate,"
                " device_id = excluded.device_id WHERE device_keys.certificate IS NULL",
                (
                    entry.key_id,
                    entry.public_b64,
                    entry.previous_key_id,
                    entry.issued_at,
                    entry.certificate,
                    device_id,
                ),
            )
            self._known_keys.add(entry.key_id)

    def append(
        self, body: dict[str, Any], key: DeviceKey, vault: IdentityVault | None = None
    ) -> StoredRating:
        """Chain, sign and durably commit one rating; return it once it is on disk."""
        with self.writing("rating not stored"):
            return self._append_in_tx(body, key, vault)

    def _append_in_tx(
        self, body: dict[str, Any], key: DeviceKey, vault: IdentityVault | None
    ) -> StoredRating:
        if key.key_id not in self._known_keys:
            self.conn.execute(
                "INSERT OR IGNORE INTO device_keys (key_id, public_key, device_id)"
                " VALUES (?, ?, ?)",
                (key.key_id, key.public_b64, body.get("deviceId")),
            )
            self._known_keys.add(key.key_id)
        last = self._chain_end()
        seq, prev_hash = last[0] + 1, last[1]
        record = {**body, "seq": seq, "prevHash": prev_hash, "keyId": key.key_id}
        record.pop("signature", None)
        check_canonical(record)  # once; the four encodings below trust it
        record["signature"] = key.sign_record(record, checked=True)
        full_hash = record_hash(record, checked=True)
        redacted, identity = split_identity(record)
        if identity and vault is None:
            raise LedgerError("personal data present but no identity key to encrypt it")
        seal = key.sign(seal_bytes(redacted, full_hash, bool(identity), checked=True))
        self.conn.execute(
            "INSERT INTO ratings (seq, evaluation_id, project_no, assess_number, record,"
            " record_hash, has_identity, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                record["evaluationId"],
                record["projectNo"],
                record["assessNumber"],
                canonical_json(redacted, checked=True).decode("utf-8"),
                full_hash,
                int(bool(identity)),
                seal,
            ),
        )
        if identity and vault is not None:
            self.conn.execute(
                "INSERT INTO rater_identities (seq, sealed) VALUES (?, ?)",
                (seq, vault.seal(record["evaluationId"], identity)),
            )
        return StoredRating(seq, record["evaluationId"], record)

    def record_outcome(self, body: dict[str, Any], key: DeviceKey) -> dict[str, Any]:
        """Sign and store what became of a case shown but not rated (evidence for the
        province's reminders and for audits); returns the signed event."""
        event = {**body, "keyId": key.key_id}
        check_canonical(event)
        event["signature"] = key.sign_record(event, checked=True)
        with self.writing("case outcome not stored"):
            self.conn.execute(
                "INSERT INTO case_outcomes (event_id, project_no, outcome, event)"
                " VALUES (?, ?, ?, ?)",
                (
                    event["eventId"],
                    event["projectNo"],
                    event["outcome"],
                    canonical_json(event, checked=True).decode("utf-8"),
                ),
            )
        return event

    def outcomes(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT event FROM case_outcomes ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [json.loads(text) for (text,) in rows]

    def mark_delivered(
        self,
        statuses: dict[str, str],
        delivered_at: str,
        *,
        seqs: Mapping[str, int] | None = None,
    ) -> int:
        """Record the province's acknowledgements and delete the delivered personal data;
        returns how many ratings became delivered. *seqs* (evaluationId → seq, as unsent()
        gave them) spares looking each rating up by its evaluationId.

        A rating's mark and the deletion of its personal data share one transaction. A big
        batch is recorded in transactions of MARK_CHUNK ratings, so that the evaluator, which
        shares the file, never waits long for a key press to be stored."""
        if any(status not in DELIVERED for status in statuses.values()):
            raise ValueError(f"delivery status must be one of {DELIVERED}")
        if seqs is None:
            mark, purge = MARK_BY_ID, PURGE_BY_ID
            keys = [(eid,) for eid in statuses]
        else:  # the row by its seq (rowid), and only if it is that rating
            mark, purge = MARK_BY_SEQ, PURGE_BY_SEQ
            keys = [(seqs[eid], eid) for eid in statuses]
        marks = [
            (status, delivered_at, *key)
            for status, key in zip(statuses.values(), keys, strict=True)
        ]
        changed = 0
        for start in range(0, len(keys), MARK_CHUNK):
            with self.writing("delivery not recorded"):
                changed += self.conn.executemany(mark, marks[start : start + MARK_CHUNK]).rowcount
                self.conn.executemany(purge, keys[start : start + MARK_CHUNK])
        return changed

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the database file so the WAL is reused, not grown.
        Passive: never waits for, nor blocks, another process's reads and writes."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise LedgerError(f"checkpoint failed: {exc}") from exc

    def writable(self) -> bool:
        """Whether a write transaction can be taken now (nothing is written)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    # -- reading ----------------------------------------------------------------------

    def unsent(
        self,
        limit: int,
        vault: IdentityVault | None = None,
        max_bytes: int | None = None,
        *,
        after_seq: int = 0,
    ) -> list[UnsentRating]:
        """The oldest undelivered ratings in seq order (those after *after_seq*), rebuilt into
        full wire records; at most *max_bytes* of canonical JSON (and a comma each), but
        always at least one rating.

        A row without personal data holds the full record's canonical JSON already: it is
        handed on as it is, neither parsed nor encoded again."""
        rows = self.conn.execute(
            "SELECT r.seq, r.evaluation_id, CAST(r.record AS BLOB), r.has_identity, i.sealed"
            " FROM ratings r LEFT JOIN rater_identities i ON i.seq = r.seq"
            " WHERE r.delivery IS NULL AND r.quarantine_code IS NULL AND r.seq > ?"
            " ORDER BY r.seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        out: list[UnsentRating] = []
        used = 0
        for seq, evaluation_id, stored, has_identity, sealed in rows:
            if has_identity:
                if sealed is None or vault is None:
                    raise LedgerError(f"rating seq {seq}: personal data cannot be restored")
                identity = vault.open(evaluation_id, sealed)
                canonical = canonical_json(join_identity(json.loads(stored), identity))
            else:
                canonical = stored  # the record's canonical JSON (UTF-8), as stored
            if max_bytes is not None:
                used += len(canonical) + 1
                if used > max_bytes and out:
                    break
            out.append(UnsentRating(seq, evaluation_id, canonical))
        return out

    def quarantine(self, rejections: dict[str, tuple[str, str]]) -> None:
        """Set rejected ratings aside with the province's code and message; never deleted."""
        with self.writing("quarantine not recorded"):
            self.conn.executemany(
                "UPDATE ratings SET quarantine_code = ?, quarantine_message = ?"
                " WHERE evaluation_id = ? AND delivery IS NULL",
                [(code, message, eid) for eid, (code, message) in rejections.items()],
            )

    def requeue(self, evaluation_id: str) -> bool:
        """Send a quarantined rating again (after the cause was fixed at the province)."""
        with self.writing("requeue not recorded"):
            changed = self.conn.execute(
                "UPDATE ratings SET quarantine_code = NULL, quarantine_message = NULL"
                " WHERE evaluation_id = ? AND quarantine_code IS NOT NULL",
                (evaluation_id,),
            ).rowcount
        return changed == 1

    def quarantine_list(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT seq, evaluation_id, project_no, quarantine_code, quarantine_message"
            " FROM ratings WHERE quarantine_code IS NOT NULL ORDER BY seq"
        ).fetchall()
        return [
            {"seq": seq, "evaluationId": eid, "projectNo": no, "code": code, "message": msg}
            for seq, eid, no, code, msg in rows
        ]

    def backlog(self) -> int:
        """Ratings still to deliver (quarantined ones are counted apart)."""
        return self.db.execute(
            "SELECT count(*) FROM ratings WHERE delivery IS NULL AND quarantine_code IS NULL"
        ).fetchone()[0]

    def holds_identities(self) -> bool:
        """Whether any rater's personal data is still sealed in the ledger."""
        return self.db["rater_identities"].count > 0

    def quarantined(self) -> int:
        return self.db["ratings"].count_where("quarantine_code IS NOT NULL")

    def count(self) -> int:
        return self.db["ratings"].count

    def _chain_end(self) -> tuple[int, str]:
        """(seq, hash) of the newest rating; after retention emptied the table, the sealed
        base it left; (0, zeros) for a new ledger."""
        row = (
            self.conn.execute(
                "SELECT seq, record_hash FROM ratings ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            or self.conn.execute("SELECT seq, record_hash FROM ledger_base").fetchone()
        )
        return (row[0], row[1]) if row else (0, ZERO_HASH)

    def last_seq(self) -> int:
        return self._chain_end()[0]

    def delivery_of(self, evaluation_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT delivery FROM ratings WHERE evaluation_id = ?", (evaluation_id,)
        ).fetchone()
        if row is None:
            raise KeyError(evaluation_id)
        return row[0]
