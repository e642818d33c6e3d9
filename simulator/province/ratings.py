"""Ratings at the stand-in province: a device's batch stored in one transaction, with the
duplicate/conflict/already-rated decision per record and the audit flags it raises.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simulator.province.audit import AuditFlag, ChainView
from simulator.province.database import SqliteFile, select_in
from simulator.province.validation import Rejection

log = logging.getLogger(__name__)


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


StoreResult = Literal["accepted", "duplicate"] | Rejection
PROVINCE_MADE = "province"  # key_id of a rating the province made itself: no device signed it


@dataclass(frozen=True)
class ProvinceRating:
    """A rating made at the province (a phone's rate-later form), in no device's chain."""

    evaluation_id: str
    project_no: str
    assess_number: int
    satisfaction: int
    canonical: str  # canonical JSON of the record the province made
    record_hash: str


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


class RatingTables(SqliteFile):
    """The evaluations, rated_cases and audit_flags tables."""

    def stored_canonical(self, evaluation_ids: list[str]) -> dict[str, str]:
        """Canonical JSON of those of *evaluation_ids* already stored (read, no transaction)."""
        with self._lock:
            return self._stored_canonical(self._db.conn, evaluation_ids)

    def received_times(self, evaluation_ids: list[str]) -> dict[str, float]:
        """When each of *evaluation_ids* was first stored (Unix seconds): what a receipt says,
        for a duplicate too."""
        sql = "SELECT evaluation_id, received_at FROM evaluations WHERE evaluation_id IN ({})"
        with self._lock:
            return dict(select_in(self._db.conn, sql, evaluation_ids))

    def store_batch(
        self,
        device_id: str,
        records: list[CheckedRecord],
        now: float,
        confirm: Callable[[], Mapping[int, Rejection]] | None = None,
    ) -> list[StoreResult]:
        """Store one device's checked records in one transaction; one result per record.

        *confirm*, if given, is called inside the transaction once the records are written
        (the caller finishes checking them meanwhile: their signatures) and names those that
        must not be stored after all, by position, with the reason. The transaction then
        goes back to its start and stores the others; the reason is their result.
        """
        if not records:
            return []
        with self._transaction() as conn:
            results, flags = self._store(conn, device_id, records, now)
            unfit = confirm() if confirm is not None else {}
            if unfit:  # rare: start the transaction over (a savepoint would cost every batch)
                conn.execute("ROLLBACK")
                conn.execute("BEGIN")
                fit = [r for index, r in enumerate(records) if index not in unfit]
                fit_results, flags = self._store(conn, device_id, fit, now)
                stored = iter(fit_results)
                results = [
                    unfit[index] if index in unfit else next(stored)
                    for index in range(len(records))
                ]
        for flag in flags:
            log.info(
                "audit flag for %s: %s at seq %d: %s", device_id, flag.kind, flag.seq, flag.detail
            )
        return results

    def _store(
        self, conn: sqlite3.Connection, device_id: str, records: list[CheckedRecord], now: float
    ) -> tuple[list[StoreResult], list[AuditFlag]]:
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
                for case in record.cases:
                    rated[(case, record.assess_number)] = record.evaluation_id
                flags.extend(chain.add(record))
                accepted.append(record)
            results.append(result)
        self._insert_evaluations(conn, accepted, now)
        self._insert_flags(conn, device_id, flags, now)
        return results, flags

    @staticmethod
    def _stored_canonical(conn: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
        sql = "SELECT evaluation_id, canonical FROM evaluations WHERE evaluation_id IN ({})"
        return dict(select_in(conn, sql, ids))

    @staticmethod
    def _rated(conn: sqlite3.Connection, cases: set[str]) -> dict[tuple[str, int], str]:
        sql = (
            "SELECT project_no, assess_number, evaluation_id FROM rated_cases "
            "WHERE project_no IN ({})"
        )
        return {(p, n): e for p, n, e in select_in(conn, sql, sorted(cases))}

    @staticmethod
    def _chain_view(conn: sqlite3.Connection, device_id: str, seqs: set[int]) -> ChainView:
        near = sorted({s + d for s in seqs for d in (-1, 0, 1)})
        columns = "SELECT seq, evaluation_id, record_hash, prev_hash FROM evaluations "
        if near and near[-1] - near[0] < 2 * len(near):  # a stretch of the chain: one scan
            links = conn.execute(
                columns + "WHERE device_id = ? AND seq BETWEEN ? AND ?",
                (device_id, near[0], near[-1]),
            ).fetchall()
        else:
            sql = columns + "WHERE device_id = ? AND seq IN ({})"
            links = select_in(conn, sql, near, leading=(device_id,))
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
        conn.executemany(
            "INSERT INTO audit_flags (device_id, kind, seq, evaluation_id, detail, flagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(device_id, f.kind, f.seq, f.evaluation_id, f.detail, now) for f in flags],
        )

    # --- ratings the province makes itself (a phone, from a device's rate-later code) ---

    def store_province_rating(self, rating: ProvinceRating, now: float) -> bool:
        """Store a rating made at the province (no device signature, no device chain);
        False, storing nothing, when its case already has a rating with that assessNumber."""
        with self._transaction() as conn:
            taken = conn.execute(
                "SELECT 1 FROM rated_cases WHERE project_no = ? AND assess_number = ?",
                (rating.project_no, rating.assess_number),
            ).fetchone()
            if taken is not None:
                return False
            conn.execute(
                "INSERT INTO evaluations (evaluation_id, device_id, key_id, seq, prev_hash, "
                "record_hash, project_no, assess_number, satisfaction, canonical, received_at) "
                "VALUES (?, NULL, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)",
                (
                    rating.evaluation_id,
                    PROVINCE_MADE,
                    rating.record_hash,
                    rating.project_no,
                    rating.assess_number,
                    rating.satisfaction,
                    rating.canonical,
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO rated_cases (project_no, assess_number, evaluation_id) "
                "VALUES (?, ?, ?)",
                (rating.project_no, rating.assess_number, rating.evaluation_id),
            )
        return True

    def is_rated(self, project_no: str, assess_number: int) -> bool:
        rows = self.query(
            "SELECT 1 FROM rated_cases WHERE project_no = ? AND assess_number = ?",
            (project_no, assess_number),
        )
        return bool(rows)

    # --- inspection --------------------------------------------------------------------

    def evaluation_ids(self) -> list[str]:
        rows = self.query("SELECT evaluation_id FROM evaluations ORDER BY rowid")
        return [row[0] for row in rows]

    def rated_cases(self) -> list[tuple[str, str, int, str]]:
        """(evaluation id, projectNo, assessNumber, device id) of every rating held, in the
        order received: what a benchmark compares with what raters were told."""
        rows = self.query(
            "SELECT evaluation_id, project_no, assess_number, device_id FROM evaluations"
            " ORDER BY rowid"
        )
        return [(str(eid), str(no), int(n), str(device)) for eid, no, n, device in rows]

    def evaluation_count(self, device_id: str | None = None) -> int:
        if device_id is None:
            rows = self.query("SELECT COUNT(*) FROM evaluations")
        else:
            rows = self.query("SELECT COUNT(*) FROM evaluations WHERE device_id = ?", (device_id,))
        return rows[0][0]

    def evaluation(self, evaluation_id: str) -> dict[str, Any] | None:
        """The stored record, parsed from the canonical bytes it arrived as."""
        rows = self.query(
            "SELECT canonical FROM evaluations WHERE evaluation_id = ?", (evaluation_id,)
        )
        return json.loads(rows[0][0]) if rows else None

    def max_seq(self, device_id: str) -> int:
        return self.query(
            "SELECT COALESCE(MAX(seq), 0) FROM evaluations WHERE device_id = ?", (device_id,)
        )[0][0]

    def missing_seqs(self, device_id: str, limit: int = 100) -> list[tuple[int, int]]:
        """Ranges of seq (first, last) below the device's highest seq that are not stored."""
        rows = self.query(
            "SELECT prev + 1, seq - 1 FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) "
            "AS prev FROM (SELECT DISTINCT seq FROM evaluations WHERE device_id = ?)) "
            "WHERE seq > prev + 1 ORDER BY seq LIMIT ?",
            (device_id, limit),
        )
        return [(first, last) for first, last in rows]

    def audit_flags(self, device_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT kind, seq, evaluation_id, detail, flagged_at FROM audit_flags "
            "WHERE device_id = ? ORDER BY id",
            (device_id,),
        )
        keys = ("kind", "seq", "evaluation_id", "detail", "flagged_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
