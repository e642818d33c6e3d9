"""`haochaping-sync status`: backlog, age of the oldest unsent rating, last success, last
error, quarantined count and whether deliveries are proven by receipts — read from the
ledger, so it works whether the daemon runs or not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device.ledger.store import Ledger
from device.record.rating import BEIJING


def sync_status(ledger: Ledger, now: datetime, province_key_id: str = "") -> dict[str, Any]:
    """*province_key_id*: the province key pinned at enrolment; "" for a version-1 province,
    whose deliveries are unproven (it gives no receipts)."""
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
        "lastSuccessAt": state.last_success_at,
        "lastError": state.last_error,
        "lastErrorAt": state.last_error_at,
        "receipts": "checked" if province_key_id else "unproven",
        "provinceKeyId": province_key_id or None,
        "unprovenDeliveries": ledger.outbox.unproven(),
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
        f"receipts:       {_receipts(status)}",
    ]
    return "\n".join(lines)


def _receipts(status: dict[str, Any]) -> str:
    unproven = status["unprovenDeliveries"]
    if status["receipts"] == "unproven":
        return (
            f"none (version-1 province): deliveries are unproven, "
            f"{unproven} delivered without a receipt"
        )
    text = f"checked under province key {status['provinceKeyId']}"
    return text + (f"; {unproven} delivered without a receipt (unproven)" if unproven else "")


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
