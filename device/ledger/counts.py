"""Counting what a ledger holds from outside the device's processes: read-only, no
migration, no write lock — for a watcher (the simulator's scenarios) while the device runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.ledger.connection import connect


@dataclass(frozen=True)
class LedgerCounts:
    ratings: int
    outcomes: int  # case events (cases shown but not rated), old case outcomes included


def read_counts(path: Path) -> LedgerCounts:
    """Rows in the ledger at *path* now; sqlite3.Error if the file is not there yet."""
    conn = connect(path, readonly=True)
    try:
        (ratings,) = conn.execute("SELECT count(*) FROM ratings").fetchone()
        (outcomes,) = conn.execute(
            "SELECT (SELECT count(*) FROM case_outcomes) + (SELECT count(*) FROM case_events)"
        ).fetchone()
    finally:
        conn.close()
    return LedgerCounts(ratings, outcomes)


@dataclass(frozen=True)
class HeldRating:
    evaluation_id: str
    project_no: str
    assess_number: int


def read_ratings(path: Path) -> list[HeldRating]:
    """Every rating in the ledger at *path* now, oldest first: what a watcher compares with
    what raters were told (the power-cut benchmark reads it after each boot)."""
    conn = connect(path, readonly=True)
    try:
        rows = conn.execute(
            "SELECT evaluation_id, project_no, assess_number FROM ratings ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    return [HeldRating(str(eid), str(no), int(n)) for eid, no, n in rows]
