"""`haochaping-sync status`: backlog, age of the oldest unsent rating, last success, last
error, quarantined count — read from the ledger, so it works whether the daemon runs or not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device.ledger.store import Ledger
from device.record.rating import BEIJING
from sync.state import SyncState


def sync_status(ledger: Ledger, now: datetime) -> dict[str, Any]:
    oldest = ledger.conn.execute(
        "SELECT json_extract(record, '$.assessTime') FROM ratings"
        " WHERE delivery IS NULL AND quarantine_code IS NULL ORDER BY seq LIMIT 1"
    ).fetchone()
    age = None
    if oldest is not None:
        pressed = datetime.strptime(oldest[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        age = max(0, int((now - pressed).total_seconds()))
    state = SyncState(ledger).get()
    return {
        "backlog": ledger.backlog(),
        "oldestUnsentAgeSeconds": age,
        "quarantined": ledger.quarantined(),
        "lastSuccessAt": state.get("lastSuccessAt"),
        "lastError": state.get("lastError"),
        "lastErrorAt": state.get("lastErrorAt"),
    }


def render_text(status: dict[str, Any]) -> str:
    age = status["oldestUnsentAgeSeconds"]
    lines = [
        f"backlog:        {status['backlog']} ratings",
        f"oldest unsent:  {'-' if age is None else _duration(age)}",
        f"quarantined:    {status['quarantined']}",
        f"last success:   {status['lastSuccessAt'] or 'never'}",
        f"last error:     {status['lastError'] or '-'}"
        + (f" (at {status['lastErrorAt']})" if status["lastError"] else ""),
    ]
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
