"""The 国密 province's calls besides ratings: registerDevice (at provisioning) and heartbeat
(the sync's timed job, and the technician's check)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.gm import payloads
from sync.gm.client import GmClient
from sync.gm.xmltext import XmlError, child_text
from sync.province_client import RetryableError


def register(client: GmClient, evidence_key_b64: str, site: Mapping[str, str | None]) -> str:
    """registerDevice with the device's SM2 key and Ed25519 evidence key; the deviceNo the
    province registered."""
    c = client.credentials
    fields = {
        "deviceNo": c.device_no,
        "publicKey": c.device_key.public_hex,
        "evidenceKey": evidence_key_b64,
        **site,
    }
    answer = client.call(
        "registerDevice", lambda ts, nonce: payloads.register_payload(fields, ts, nonce)
    )
    try:
        registered = child_text(payloads.answer_root(answer, "registered"), "deviceNo")
    except XmlError as exc:
        raise RetryableError(f"registerDevice: signed answer of the wrong shape: {exc}") from exc
    if registered != c.device_no:
        raise RetryableError("registerDevice: the province registered another deviceNo")
    return registered


def heartbeat(client: GmClient, body: Mapping[str, Any]) -> str:
    """One signed heartbeat; the province's time (`yyyy-MM-dd HH:mm:ss`) from its signed
    answer."""
    fields = {
        "deviceNo": client.credentials.device_no,
        "backlog": _text(body.get("backlog")),
        "quarantined": _text(body.get("quarantined")),
        "lastSerialNo": _text(body.get("lastAcceptedSeq")),
        "keypadConnected": _text(body.get("keypadConnected")),
        "clockSynced": _text(body.get("clockSynced")),
    }
    answer = client.call(
        "heartbeat", lambda ts, nonce: payloads.heartbeat_payload(fields, ts, nonce)
    )
    try:
        return child_text(payloads.answer_root(answer, "ok"), "serverTime")
    except XmlError as exc:
        raise RetryableError(f"heartbeat: signed answer of the wrong shape: {exc}") from exc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
