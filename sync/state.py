"""What the sync remembers between runs, in the ledger file: last success, last error."""

from __future__ import annotations

import json
from typing import Any

from device.ledger.store import Ledger


class SyncState:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def set(self, **values: Any) -> None:
        with self.ledger.writing("sync state not stored"):
            self.ledger.conn.executemany(
                "INSERT INTO sync_state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
            )

    def get(self) -> dict[str, Any]:
        rows = self.ledger.conn.execute("SELECT key, value FROM sync_state").fetchall()
        return {key: json.loads(value) for key, value in rows}
