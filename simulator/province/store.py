"""The stand-in province's SQLite file: enrol tokens, devices and keys, ratings, nonces, audit.

One connection guarded by a lock, so the server's threads may share a ProvinceStore; a
batch of ratings is stored in one transaction together with the audit flags it raises.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from device.canonical import ZERO_HASH
from simulator.province.validation import Rejection

log = logging.getLogger(__name__)

NONCE_SECONDS = 600
NONCE_PRUNE_EVERY = 60.0
IN_CHUNK = 500

migrations = Migrations("province")


@migrations(name="001_initial")
def _initial(db: Database) -> None:
    db["enrol_tokens"].create(
        {"token": str, "expires_at": float, "used_by_public_key": str, "device_id": str},
        pk="token",
    )
    db["devices"].create(
        {
            "device_id": str,
            "serial": str,
            "model": str,
            "firmware": str,
            "site": str,
            "enrolled_at": float,
        },
        pk="device_id",
    )
    db["device_keys"].create(
        {"key_id": str, "device_id": str, "public_key": str, "added_at": float}, pk="key_id"
    )
    db["device_keys"].create_index(["device_id"])
    db["evaluations"].create(
        {
            "evaluation_id": str,
            "device_id": str,
            "key_id": str,
            "seq": int,
            "prev_hash": str,
            "record_hash": str,
            "project_no": str,
            "assess_number": int,
            "satisfaction": int,
            "canonical": str,
            "received_at": float,
        },
        pk="evaluation_id",
    )
    db["evaluations"].create_index(["device_id", "seq"])
    db["rated_cases"].create(
        {"project_no": str, "assess_number": int, "evaluation_id": str},
        pk=("project_no", "assess_number"),
    )
    db["nonces"].create({"nonce": str, "seen_at": float}, pk="nonce")
    db["nonces"].create_index(["seen_at"])
    db["audit_flags"].create(
        {
            "id": int,
            "device_id": str,
            "kind": str,
            "seq": int,
            "evaluation_id": str,
            "detail": str,
            "flagged_at": float,
        },
        pk="id",
    )
    db["audit_flags"].create_index(["device_id"])


@dataclass(frozen=True)
class CheckedRecord:
    """A record that passed field validation and signature verification, ready to store."""

    evaluation_id: str
    device_id: str
    key_id: str
    seq: int
    prev_hash: str
    project_no: str
    cases: tuple[str, ...]  # projectNo and every other case of a batch rating
    assess_number: int
    satisfaction: int
    canonical: str  # canonical JSON of the record as received, signature included
    record_hash: str  # SHA-256 of those bytes: what the next record's prevHash holds


@dataclass(frozen=True)
class AuditFlag:
    kind: str  # seq_gap, seq_out_of_order, seq_fork, prev_hash_fork
    seq: int
    evaluation_id: str
    detail: str


@dataclass(frozen=True)
class Enrolment:
    token: str
    public_key: str
    key_id: str
    serial: str
    model: str
    firmware: str
    site: dict[str, Any]


EnrolStatus = Literal[
    "enrolled", "repeat", "unknown_token", "expired_token", "token_used", "key_taken"
]


@dataclass(frozen=True)
class EnrolOutcome:
    status: EnrolStatus
    device_id: str | None = None


StoreResult = Literal["accepted", "duplicate"] | Rejection


@dataclass(frozen=True)
class _Link:
    evaluation_id: str
    record_hash: str
    prev_hash: str


class ChainView:
    """The part of one device's seq/prevHash chain a batch touches, updated as it is stored.

    Records may arrive out of order after a retry, so each record is checked against its
    stored predecessor (seq-1) and against a stored successor (seq+1) that arrived earlier.
    """

    def __init__(self, max_seq: int, links: Iterable[tuple[int, str, str, str]]) -> None:
        self.max_seq = max_seq
        self.by_seq: dict[int, list[_Link]] = {}
        for seq, evaluation_id, record_hash, prev_hash in links:
            self.by_seq.setdefault(seq, []).append(_Link(evaluation_id, record_hash, prev_hash))

    def add(self, record: CheckedRecord) -> list[AuditFlag]:
        seq, eid = record.seq, record.evaluation_id
        flags: list[AuditFlag] = []
        same = self.by_seq.get(seq, [])
        if same:
            held = same[0].evaluation_id
            flags.append(AuditFlag("seq_fork", seq, eid, f"seq {seq} is already held by {held}"))
        elif seq < self.max_seq:
            detail = f"seq {seq} arrived after seq {self.max_seq}"
            flags.append(AuditFlag("seq_out_of_order", seq, eid, detail))
        if seq > self.max_seq + 1:
            detail = f"seq {seq} arrived while seq {self.max_seq + 1}–{seq - 1} were missing"
            flags.append(AuditFlag("seq_gap", seq, eid, detail))
        flags.extend(self._check_predecessor(record))
        if not same:
            flags.extend(self._check_successors(record))
        self.by_seq.setdefault(seq, []).append(_Link(eid, record.record_hash, record.prev_hash))
        self.max_seq = max(self.max_seq, seq)
        return flags

    def _check_predecessor(self, record: CheckedRecord) -> list[AuditFlag]:
        seq, eid = record.seq, record.evaluation_id
        if seq == 1:
            if record.prev_hash == ZERO_HASH:
                return []
            return [AuditFlag("prev_hash_fork", 1, eid, "seq 1 must have a prevHash of 64 zeros")]
        before = self.by_seq.get(seq - 1, [])
        if not before or any(link.record_hash == record.prev_hash for link in before):
            return []
        detail = f"prevHash does not match seq {seq - 1} ({before[0].evaluation_id})"
        return [AuditFlag("prev_hash_fork", seq, eid, detail)]

    def _check_successors(self, record: CheckedRecord) -> list[AuditFlag]:
        return [
            AuditFlag(
                "prev_hash_fork",
                record.seq + 1,
                link.evaluation_id,
                f"prevHash does not match seq {record.seq} ({record.evaluation_id}), "
                "which arrived later",
            )
            for link in self.by_seq.get(record.seq + 1, [])
            if link.prev_hash != record.record_hash
        ]


def decide(
    record: CheckedRecord, stored: dict[str, str], rated: dict[tuple[str, int], str]
) -> StoreResult:
    """Duplicate, conflict, already rated, or accepted — given what is stored so far."""
    earlier = stored.get(record.evaluation_id)
    if earlier is not None:
        if earlier == record.canonical:
            return "duplicate"
        return Rejection("E_CONFLICT", "this evaluationId is already stored with different content")
    for case in record.cases:
        holder = rated.get((case, record.assess_number))
        if holder is not None:
            return Rejection(
                "E_ALREADY_RATED",
                f"case {case} already has rating {record.assess_number} ({holder})",
            )
    return "accepted"


def _select_in(
    conn: sqlite3.Connection, sql: str, values: list[Any], leading: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Run `... IN ({})` over *values* in chunks below SQLite's limit on parameters."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        statement = sql.format(",".join("?" * len(chunk)))
        rows.extend(conn.execute(statement, (*leading, *chunk)).fetchall())
    return rows


class ProvinceStore:
    """Everything the stand-in province remembers, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db = Database(conn)
        self._db.enable_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._next_prune = 0.0
        with self._lock:
            migrations.apply(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db.atomic():
            yield self._db.conn

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.conn.execute(sql, tuple(params)).fetchall()

    # --- enrolment -------------------------------------------------------------------

    def add_token(self, token: str, ttl_seconds: float, *, now: float | None = None) -> None:
        """Issue an enrol token (or extend an existing one's expiry; a used token stays used)."""
        expires_at = (time.time() if now is None else now) + ttl_seconds
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO enrol_tokens (token, expires_at) VALUES (?, ?) "
                "ON CONFLICT(token) DO UPDATE SET expires_at = excluded.expires_at",
                (token, expires_at),
            )

    def enroll(self, enrolment: Enrolment, now: float) -> EnrolOutcome:
        """Spend a token on one device; the same key and token again gets the same device."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT expires_at, used_by_public_key, device_id FROM enrol_tokens "
                "WHERE token = ?",
                (enrolment.token,),
            ).fetchone()
            if row is None:
                return EnrolOutcome("unknown_token")
            expires_at, used_by, device_id = row
            if used_by is not None:
                if used_by == enrolment.public_key:
                    return EnrolOutcome("repeat", device_id)
                return EnrolOutcome("token_used")
            if expires_at <= now:
                return EnrolOutcome("expired_token")
            taken = conn.execute(
                "SELECT 1 FROM device_keys WHERE key_id = ?", (enrolment.key_id,)
            ).fetchone()
            if taken is not None:
                return EnrolOutcome("key_taken")
            device_id = self._insert_device(conn, enrolment, now)
            conn.execute(
                "UPDATE enrol_tokens SET used_by_public_key = ?, device_id = ? WHERE token = ?",
                (enrolment.public_key, device_id, enrolment.token),
            )
            return EnrolOutcome("enrolled", device_id)

    @staticmethod
    def _insert_device(conn: sqlite3.Connection, enrolment: Enrolment, now: float) -> str:
        device_id = "hcp-" + secrets.token_hex(8)
        site = json.dumps(enrolment.site, sort_keys=True, ensure_ascii=False)
        conn.execute(
            "INSERT INTO devices (device_id, serial, model, firmware, site, enrolled_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, enrolment.serial, enrolment.model, enrolment.firmware, site, now),
        )
        conn.execute(
            "INSERT INTO device_keys (key_id, device_id, public_key, added_at) VALUES (?, ?, ?, ?)",
            (enrolment.key_id, device_id, enrolment.public_key, now),
        )
        return device_id

    def add_key(self, device_id: str, public_key: str, key_id: str, now: float) -> None:
        """Register another key for an enrolled device (key rotation); old keys stay valid."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO device_keys (key_id, device_id, public_key, added_at) "
                "VALUES (?, ?, ?, ?)",
                (key_id, device_id, public_key, now),
            )

    def device(self, device_id: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT device_id, serial, model, firmware, site, enrolled_at FROM devices "
            "WHERE device_id = ?",
            (device_id,),
        )
        if not rows:
            return None
        device_id, serial, model, firmware, site, enrolled_at = rows[0]
        return {
            "device_id": device_id,
            "serial": serial,
            "model": model,
            "firmware": firmware,
            "site": json.loads(site),
            "enrolled_at": enrolled_at,
        }

    def device_keys(self, device_id: str) -> dict[str, str]:
        """Every key registered to a device: keyId → public key (base64)."""
        rows = self._query(
            "SELECT key_id, public_key FROM device_keys WHERE device_id = ?", (device_id,)
        )
        return dict(rows)

    def key(self, key_id: str) -> tuple[str, str] | None:
        """The device a key belongs to and the key itself (base64), if registered."""
        rows = self._query(
            "SELECT device_id, public_key FROM device_keys WHERE key_id = ?", (key_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    # --- request nonces ----------------------------------------------------------------

    def remember_nonce(self, nonce: str, now: float) -> bool:
        """Record a request nonce; False when it was already seen in the last 600 s."""
        with self._transaction() as conn:
            if now >= self._next_prune:
                conn.execute("DELETE FROM nonces WHERE seen_at < ?", (now - NONCE_SECONDS,))
                self._next_prune = now + NONCE_PRUNE_EVERY
            cursor = conn.execute(
                "INSERT INTO nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT(nonce) "
                "DO UPDATE SET seen_at = excluded.seen_at WHERE nonces.seen_at < ?",
                (nonce, now, now - NONCE_SECONDS),
            )
            return cursor.rowcount == 1

    # --- ratings -----------------------------------------------------------------------

    def stored_canonical(self, evaluation_ids: list[str]) -> dict[str, str]:
        """Canonical JSON of those of *evaluation_ids* already stored (read, no transaction)."""
        with self._lock:
            return self._stored_canonical(self._db.conn, evaluation_ids)

    def store_batch(
        self, device_id: str, records: list[CheckedRecord], now: float
    ) -> list[StoreResult]:
        """Store one device's checked records in one transaction; one result per record."""
        if not records:
            return []
        with self._transaction() as conn:
            stored = self._stored_canonical(conn, [r.evaluation_id for r in records])
            rated = self._rated(conn, {case for r in records for case in r.cases})
            chain = self._chain_view(conn, device_id, {r.seq for r in records})
            results: list[StoreResult] = []
            accepted: list[CheckedRecord] = []
            flags: list[AuditFlag] = []
            for record in records:
                result = decide(record, stored, rated)
                if result == "accepted":
                    stored[record.evaluation_id] = record.canonical
                    rated.update(
                        {(c, record.assess_number): record.evaluation_id for c in record.cases}
                    )
                    flags.extend(chain.add(record))
                    accepted.append(record)
                results.append(result)
            self._insert_evaluations(conn, accepted, now)
            self._insert_flags(conn, device_id, flags, now)
        return results

    @staticmethod
    def _stored_canonical(conn: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
        sql = "SELECT evaluation_id, canonical FROM evaluations WHERE evaluation_id IN ({})"
        return dict(_select_in(conn, sql, ids))

    @staticmethod
    def _rated(conn: sqlite3.Connection, cases: set[str]) -> dict[tuple[str, int], str]:
        sql = (
            "SELECT project_no, assess_number, evaluation_id FROM rated_cases "
            "WHERE project_no IN ({})"
        )
        return {(p, n): e for p, n, e in _select_in(conn, sql, sorted(cases))}

    @staticmethod
    def _chain_view(conn: sqlite3.Connection, device_id: str, seqs: set[int]) -> ChainView:
        near = sorted({s + d for s in seqs for d in (-1, 0, 1)})
        sql = (
            "SELECT seq, evaluation_id, record_hash, prev_hash FROM evaluations "
            "WHERE device_id = ? AND seq IN ({})"
        )
        links = _select_in(conn, sql, near, leading=(device_id,))
        (max_seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM evaluations WHERE device_id = ?", (device_id,)
        ).fetchone()
        return ChainView(max_seq, links)

    @staticmethod
    def _insert_evaluations(
        conn: sqlite3.Connection, records: list[CheckedRecord], now: float
    ) -> None:
        conn.executemany(
            "INSERT INTO evaluations (evaluation_id, device_id, key_id, seq, prev_hash, "
            "record_hash, project_no, assess_number, satisfaction, canonical, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.evaluation_id,
                    r.device_id,
                    r.key_id,
                    r.seq,
                    r.prev_hash,
                    r.record_hash,
                    r.project_no,
                    r.assess_number,
                    r.satisfaction,
                    r.canonical,
                    now,
                )
                for r in records
            ],
        )
        conn.executemany(
            "INSERT INTO rated_cases (project_no, assess_number, evaluation_id) VALUES (?, ?, ?)",
            [(c, r.assess_number, r.evaluation_id) for r in records for c in r.cases],
        )

    @staticmethod
    def _insert_flags(
        conn: sqlite3.Connection, device_id: str, flags: list[AuditFlag], now: float
    ) -> None:
        for flag in flags:
            log.info(
                "audit flag for %s: %s at seq %d: %s", device_id, flag.kind, flag.seq, flag.detail
            )
        conn.executemany(
            "INSERT INTO audit_flags (device_id, kind, seq, evaluation_id, detail, flagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(device_id, f.kind, f.seq, f.evaluation_id, f.detail, now) for f in flags],
        )

    # --- inspection --------------------------------------------------------------------

    def evaluation_ids(self) -> list[str]:
        rows = self._query("SELECT evaluation_id FROM evaluations ORDER BY rowid")
        return [row[0] for row in rows]

    def evaluation_count(self, device_id: str | None = None) -> int:
        if device_id is None:
            rows = self._query("SELECT COUNT(*) FROM evaluations")
        else:
            rows = self._query("SELECT COUNT(*) FROM evaluations WHERE device_id = ?", (device_id,))
        return rows[0][0]

    def evaluation(self, evaluation_id: str) -> dict[str, Any] | None:
        """The stored record, parsed from the canonical bytes it arrived as."""
        rows = self._query(
            "SELECT canonical FROM evaluations WHERE evaluation_id = ?", (evaluation_id,)
        )
        return json.loads(rows[0][0]) if rows else None

    def max_seq(self, device_id: str) -> int:
        return self._query(
            "SELECT COALESCE(MAX(seq), 0) FROM evaluations WHERE device_id = ?", (device_id,)
        )[0][0]

    def missing_seqs(self, device_id: str, limit: int = 100) -> list[tuple[int, int]]:
        """Ranges of seq (first, last) below the device's highest seq that are not stored."""
        rows = self._query(
            "SELECT prev + 1, seq - 1 FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) "
            "AS prev FROM (SELECT DISTINCT seq FROM evaluations WHERE device_id = ?)) "
            "WHERE seq > prev + 1 ORDER BY seq LIMIT ?",
            (device_id, limit),
        )
        return [(first, last) for first, last in rows]

    def audit_flags(self, device_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT kind, seq, evaluation_id, detail, flagged_at FROM audit_flags "
            "WHERE device_id = ? ORDER BY id",
            (device_id,),
        )
        keys = ("kind", "seq", "evaluation_id", "detail", "flagged_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
