"""Re-check the ledger's case events: canonical form, signature by a trusted device key, the
eventSeq order and the prevHash chain, and their delivery marks. Pure: rows and keys in,
every problem out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from device.keys.signing import public_key_from_b64, verify_record
from device.ledger.case_events import EventRow
from device.ledger.delivery_proof import DeliveryMark, mark_problem
from device.record.canonical import ZERO_HASH, canonical_json, sha256_hex


def _check_one(
    row: EventRow, expected_seq: int, prev_hash: str, keys: dict[str, str], device_id: str | None
) -> str | None:
    if row.event_seq != expected_seq:
        return f"event missing before eventSeq {row.event_seq} (expected {expected_seq})"
    event: Any = json.loads(row.text)
    if not isinstance(event, dict):
        return "stored event is not an object"
    if canonical_json(event).decode("utf-8") != row.text:
        return "stored event is not in canonical form"
    public_b64 = keys.get(str(event.get("keyId")))
    if public_b64 is None:
        return f"signed by unknown or untrusted key {event.get('keyId')!r}"
    if not verify_record(public_key_from_b64(public_b64), event):
        return "event signature is invalid"
    if sha256_hex(row.text.encode("utf-8")) != row.event_hash:
        return "event hash does not match the signed event"
    if event.get("eventSeq") != row.event_seq or event.get("eventId") != row.event_id:
        return "event does not belong at this position"
    if device_id is not None and event.get("deviceId") != device_id:
        return f"event names device {event.get('deviceId')!r}, not {device_id!r}"
    if event.get("prevHash") != prev_hash:
        return "prevHash does not match the previous event (chain broken)"
    return None


def check_events(
    rows: Iterable[EventRow], keys: dict[str, str], device_id: str | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """(events checked, [(eventSeq, problem)] for every bad one). After a bad event the
    chain is followed on from it, so one tampered event is reported once."""
    count = 0
    problems: list[tuple[int, str]] = []
    expected, prev_hash = 1, ZERO_HASH
    for row in rows:
        count += 1
        try:
            problem = _check_one(row, expected, prev_hash, keys, device_id)
        except Exception as exc:  # a hostile file gives a finding, never a traceback
            problem = f"event cannot be checked: {type(exc).__name__}"
        if problem:
            problems.append((row.event_seq, problem))
        expected, prev_hash = row.event_seq + 1, row.event_hash
    return count, problems


def event_mark_problems(
    marks: Iterable[tuple[DeliveryMark, str]], province_key: str | None
) -> list[tuple[int, str]]:
    """[(eventSeq, problem)] for every event whose delivery mark is not proven: each mark
    comes with the device id its receipt must name (see `delivery_proof.mark_problem`)."""
    problems = []
    for mark, device_id in marks:
        try:
            problem = mark_problem(mark, device_id, province_key)
        except Exception as exc:  # a hostile file gives a finding, never a traceback
            problem = f"delivery mark cannot be checked: {type(exc).__name__}"
        if problem:
            problems.append((mark.seq, problem))
    return problems
