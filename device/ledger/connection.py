"""Opening ledger.db with durable settings, and the ledger's one error type: any SQLite
failure reaches the ledger's callers as a LedgerError.

`secure_delete` makes SQLite overwrite deleted rows and freed pages with zeros, so that a
rater's sealed identity, once deleted, is not left readable in the file's free space.
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
    """A connection in autocommit mode (transactions are explicit) with durable settings;
    closed again if the settings cannot be applied."""
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
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn
