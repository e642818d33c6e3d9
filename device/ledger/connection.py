"""Opening ledger.db with durable settings, its write transactions, and its one error type.

Every part of the ledger (chain, outbox, sync state) writes through `transaction`, so a
SQLite failure always reaches the caller as a LedgerError.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LedgerError(Exception):
    """The ledger cannot store or read a rating (disk full, read-only, corrupt)."""


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


@contextmanager
def transaction(conn: sqlite3.Connection, what: str) -> Iterator[None]:
    """One write transaction, taken IMMEDIATE so a busy reader never forces a retry of half a
    write; any SQLite failure (disk full, read-only) becomes a LedgerError naming *what*."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise LedgerError(f"{what}: {exc}") from exc
