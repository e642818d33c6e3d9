"""`haochaping-sync status`: backlog, age of the oldest unsent rating, last success, last
error, quarantined count and how many of those lost their personal data — read from the
ledger, so it works whether the daemon runs or not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device.ledger.store import Ledger
from device.record.rating import BEIJING


def sync_status(ledger: Ledger, now: datetime) -> dict[str, Any]:
    oldest = ledger.outbox.oldest_unsent_assess_time()
    age = None
    if oldest is not None:
        pressed = datetime.strptime(oldest, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        age = max(0, int((now - pressed).total_seconds()))
    state = ledger.sync_state.read()
    return {
        "backlog": ledger.outbox.backlog(),
        "oldestUnsentAgeSeconds": age,
        "quarantined": ledger.outbox.quarantined(),
        "identityLost": ledger.outbox.identity_lost(),
        "lastSuccessAt": state.last_success_at,
        "lastError": state.last_error,
        "lastErrorAt": state.last_error_at,
    }


def render_text(status: dict[str, Any]) -> str:
    age = status["oldestUnsentAgeSeconds"]
    lines = [
        f"backlog:        {status['backlog']} ratings",
        f"oldest unsent:  {'-' if age is None else _duration(age)}",
        f"quarantined:    {status['quarantined']}",
        f"identity lost:  {status['identityLost']}"
        + (" (kept on the device, not sent: E_IDENTITY_LOST)" if status["identityLost"] else ""),
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
