"""Opening ledger.db with durable settings, and the ledger's one error type: any SQLite
failure reaches the ledger's callers as a LedgerError.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from device.errors import HaochapingError


class LedgerError(HaochapingError):
    """The ledger cannot store or read a rating (disk full, read-only, corrupt)."""

    code = "E_LEDGER"


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
