"""One SQLite connection shared by the stand-in's threads: a lock, transactions, reads.
The write-ahead log goes into the file on a thread of its own (`speed/checkpoint.py`).

The tables themselves are in `schema.py`; what is stored in them, in `ratings.py` and `store.py`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from simulator.province.schema import migrations
from simulator.province.speed.checkpoint import Checkpointer

IN_CHUNK = 500


def select_in(
    conn: sqlite3.Connection, sql: str, values: list[Any], leading: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Run `... IN ({})` over *values* in chunks below SQLite's limit on parameters."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        statement = sql.format(",".join("?" * len(chunk)))
        rows.extend(conn.execute(statement, (*leading, *chunk)).fetchall())
    return rows


class SqliteFile:
    """The province's file in WAL mode, migrated on open; one statement at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db = Database(conn)
        self._db.enable_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._lock:
            migrations.apply(self._db)
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work instead
        self._checkpointer = Checkpointer(path)
        self._checkpointer.start()

    def close(self) -> None:
        self._checkpointer.stop()
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db.atomic():
            yield self._db.conn

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (reports and inspection use this)."""
        with self._lock:
            return self._db.conn.execute(sql, tuple(params)).fetchall()
