"""Speeds up the commits of `database.SqliteFile`: instead of SQLite's automatic checkpoint,
which copies the write-ahead log into the file inside whichever commit crosses the threshold,
a thread of its own does it beside the requests, so that no request waits for it.

Equality with the plain path: what is stored does not depend on when the log is copied; every
test of the stand-in runs with this thread, and `SqliteFile.close()` copies the rest.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.5


class Checkpointer(threading.Thread):
    """Every CHECKPOINT_SECONDS, a passive checkpoint on a connection of its own: committed
    pages go from the log into the file while requests go on (SQLite lets go of the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="province-checkpoint", daemon=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.wait(CHECKPOINT_SECONDS):
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the next round tries again; the log only grows
                    log.warning("province: checkpoint failed: %s", exc)
        finally:
            self._conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()
