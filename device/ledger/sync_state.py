"""What the sync remembers between runs, kept in the ledger file: its last success and its
last error, so `haochaping-sync status` can tell them whether the daemon runs or not.

Stored as one row per field in `sync_state` (JSON values, camelCase keys as shown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from device.ledger.store import Ledger


UPSERT = (
    "INSERT INTO sync_state (key, value) VALUES (?, ?)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


@dataclass(frozen=True)
class SyncState:
    last_success_at: str | None = None  # ISO time of the last round that delivered
    last_delivered: int | None = None  # ratings that round delivered
    last_error: str | None = None
    last_error_at: str | None = None
    events_endpoint_missing_since: str | None = None  # a version-1 province: no events yet


class SyncMemory:
    """The sync_state table of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.conn = ledger.conn

    def read(self) -> SyncState:
        rows = self.conn.execute("SELECT key, value FROM sync_state").fetchall()
        values: dict[str, Any] = {key: json.loads(value) for key, value in rows}
        return SyncState(
            last_success_at=values.get("lastSuccessAt"),
            last_delivered=values.get("lastDelivered"),
            last_error=values.get("lastError"),
            last_error_at=values.get("lastErrorAt"),
            events_endpoint_missing_since=values.get("eventsEndpointMissingSince"),
        )

    def delivered(self, at: str, count: int) -> None:
        """A round delivered *count* ratings at *at*; the last error stays on record."""
        self._set({"lastSuccessAt": at, "lastDelivered": count})

    def failed(self, error: str, at: str) -> None:
        self._set({"lastError": error, "lastErrorAt": at})

    def events_endpoint(self, missing_since: str | None) -> None:
        """The province answered 404 to the case-events endpoint (since *missing_since*),
        or None: it took events."""
        self._set({"eventsEndpointMissingSince": missing_since})

    def _set(self, values: dict[str, Any]) -> None:
        with self.ledger.writing("sync state not stored"):
            self.conn.executemany(
                UPSERT, [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()]
            )
