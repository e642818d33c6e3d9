"""`haochaping-sync status`: backlog, age of the oldest unsent rating, last success, last
error, quarantined count, ratings sent without the personal data they lost, and whether
deliveries are proven by receipts — for ratings and for case events — read from the ledger,
so it works whether the daemon runs or not; and whether the identity key opens the personal
data held (without it the sync sends nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device.ledger.store import Ledger
from device.record.rating import BEIJING


def _age(moment: str | None, now: datetime) -> int | None:
    if moment is None:
        return None
    then = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    return max(0, int((now - then).total_seconds()))


def sync_status(
    ledger: Ledger,
    now: datetime,
    province_key_id: str = "",
    *,
    events_delivered: bool = True,
    gm_province: bool = False,
    identity_key_problem: str | None = None,
) -> dict[str, Any]:
    """*province_key_id*: the province key pinned at enrolment; "" for a version-1 province,
    whose deliveries are unproven (it gives no receipts). *events_delivered*: whether the
    configured adapter carries case events at all. *gm_province*: a 国密 province, whose
    answers are SM2-signed and kept with the province's ids as receipts.
    *identity_key_problem*: why the identity key cannot open the personal data held
    (missing, another key), which stops the sync."""
    state = ledger.sync_state.read()
    if not events_delivered:
        events_endpoint = "not carried by this adapter: kept on the device"
    elif state.events_endpoint_missing_since is not None:
        events_endpoint = (
            "missing (a version-1 province): kept on the device since "
            + state.events_endpoint_missing_since
        )
    else:
        events_endpoint = "ok"
    return {
        "backlog": ledger.outbox.backlog(),
        "oldestUnsentAgeSeconds": _age(ledger.outbox.oldest_unsent_assess_time(), now),
        "quarantined": ledger.outbox.quarantined(),
        **_identity_lost(ledger),
        "eventBacklog": ledger.events.backlog(),
        "oldestUnsentEventAgeSeconds": _age(ledger.events.oldest_unsent_ended_at(), now),
        "eventsQuarantined": ledger.events.quarantined(),
        "eventsEndpoint": events_endpoint,
        "lastSuccessAt": state.last_success_at,
        "lastError": state.last_error,
        "lastErrorAt": state.last_error_at,
        "receipts": "gm-sm2" if gm_province else "checked" if province_key_id else "unproven",
        "provinceKeyId": province_key_id or None,
        "unprovenDeliveries": ledger.outbox.unproven(),
        "unprovenEventDeliveries": ledger.outbox.unproven_events(),
        "identityKey": identity_key_problem or "ok",
    }


def render_text(status: dict[str, Any]) -> str:
    age = status["oldestUnsentAgeSeconds"]
    event_age = status["oldestUnsentEventAgeSeconds"]
    lines = [
        f"backlog:        {status['backlog']} ratings",
        f"oldest unsent:  {'-' if age is None else _duration(age)}",
        f"quarantined:    {status['quarantined']}",
        f"identity lost:  {_losses(status)}",
        f"case events:    {status['eventBacklog']} unsent, "
        f"{status['eventsQuarantined']} quarantined",
        f"oldest event:   {'-' if event_age is None else _duration(event_age)}",
        f"events:         {status['eventsEndpoint']}",
        f"last success:   {status['lastSuccessAt'] or 'never'}",
        f"last error:     {status['lastError'] or '-'}"
        + (f" (at {status['lastErrorAt']})" if status["lastError"] else ""),
        f"receipts:       {_receipts(status)}",
        f"identity key:   {_identity_key(status)}",
    ]
    return "\n".join(lines)


def _identity_lost(ledger: Ledger) -> dict[str, int]:
    """Ratings whose personal data could not be restored: sent without it, waiting to be,
    rejected after, or (no device key to re-sign) kept back."""
    counts = ledger.identity_losses.counts()
    kept = ledger.outbox.identity_lost()
    return {
        "identityLost": counts.sent + counts.waiting + counts.quarantined + kept,
        "sentWithoutIdentity": counts.sent,
        "waitingWithoutIdentity": counts.waiting,
        "identityLostKeptBack": kept,
    }


def _losses(status: dict[str, Any]) -> str:
    if not status["identityLost"]:
        return "0"
    text = (
        f"{status['sentWithoutIdentity']} sent without personal data, "
        f"{status['waitingWithoutIdentity']} waiting (haochaping-sync identity-lost lists them)"
    )
    if status["identityLostKeptBack"]:
        text += (
            f"; {status['identityLostKeptBack']} kept on the device, not sent "
            "(E_IDENTITY_LOST: no device key to re-sign)"
        )
    return text


def _identity_key(status: dict[str, Any]) -> str:
    if status["identityKey"] == "ok":
        return "ok"
    return f"OUT OF SERVICE, nothing is sent: {status['identityKey']}"


def _receipts(status: dict[str, Any]) -> str:
    unproven = status["unprovenDeliveries"]
    events = status["unprovenEventDeliveries"]
    without = f"{unproven} delivered without a receipt" + (
        f", and {events} case events" if events else ""
    )
    if status["receipts"] == "gm-sm2":
        return (
            "国密 province: each answer's SM2 signature checked before marking; the signed "
            "answers and the province's id of every rating kept (verify-ledger "
            "--province-sm2-key)" + (f"; {without}" if unproven else "")
        )
    if status["receipts"] == "unproven":
        return f"none (version-1 province): deliveries are unproven, {without}"
    text = f"checked under province key {status['provinceKeyId']}"
    return text + (f"; {without} (unproven)" if unproven or events else "")


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
