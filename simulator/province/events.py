"""POST /case-events:batch at the stand-in province (spec v1.1): check each EVENT's shape and
signature, store it (duplicates by eventId), answer one result per event.

Events never count as ratings; `event_store` keeps them and computes the flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from device.keys.signing import public_key_from_b64, verify_record
from device.record.canonical import NotCanonicalError, canonical_json, sha256_hex
from device.record.case_event import EventKind
from device.record.receipt import Acknowledged, Receipt, RecordKind
from simulator.province.devices import beijing_time
from simulator.province.event_store import CheckedEvent, EventStore
from simulator.province.http_server import ApiError, Reply, Request, auth_error, json_body
from simulator.province.receipts import ProvinceKey, receipt_fields
from simulator.province.store import ProvinceStore
from simulator.province.validation import Rejection

MAX_BATCH_EVENTS = 500
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
HASH = re.compile(r"^[0-9a-f]{64}$")
STRINGS = ("eventId", "deviceId", "keyId", "projectNo", "taskCode", "taskName", "areaCode")
OPTIONAL_STRINGS = ("deptCode", "hallCode", "windowNo", "terminalNo", "proManagerNo", "proManager")
KINDS = frozenset(kind.value for kind in EventKind)
FIELDS = frozenset(
    {
        *STRINGS,
        *OPTIONAL_STRINGS,
        "eventSeq",
        "prevHash",
        "kind",
        "batchProjectNos",
        "proStatus",
        "assessNumber",
        "pf",
        "levelPressed",
        "shownAt",
        "endedAt",
        "clockSynced",
        "rateLater",
        "signature",
    }
)


def _field(name: str, message: str) -> Rejection:
    return Rejection("E_FIELD", f"{name}: {message}", name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_event(event: Any) -> Rejection | None:
    """The EVENT's shape; None when it is one."""
    if not isinstance(event, dict):
        return _field("$", "an event is an object")
    unknown = set(event) - FIELDS
    if unknown or FIELDS - set(event):
        name = sorted(unknown or FIELDS - set(event))[0]
        return _field(name, "unknown field" if unknown else "missing")
    for name in STRINGS:
        if not isinstance(event[name], str) or not event[name] or len(event[name]) > 200:
            return _field(name, "a non-empty string")
    for name in OPTIONAL_STRINGS:
        if event[name] is not None and not isinstance(event[name], str):
            return _field(name, "a string or null")
    if not _is_int(event["eventSeq"]) or event["eventSeq"] < 1:
        return _field("eventSeq", "an integer >= 1")
    if not isinstance(event["prevHash"], str) or not HASH.match(event["prevHash"]):
        return _field("prevHash", "64 hex characters")
    if event["kind"] not in KINDS:
        return _field("kind", f"one of {sorted(KINDS)}")
    batch = event["batchProjectNos"]
    if batch is not None and (
        not isinstance(batch, list)
        or not batch
        or not all(isinstance(n, str) and n for n in batch)
        or event["projectNo"] not in batch
    ):
        return _field("batchProjectNos", "null or case numbers including projectNo")
    return _validate_values(event)


def _validate_values(event: dict[str, Any]) -> Rejection | None:
    for name in ("proStatus", "assessNumber", "pf"):
        if not _is_int(event[name]):
            return _field(name, "an integer")
    level = event["levelPressed"]
    if level is not None and (not _is_int(level) or not 1 <= level <= 5):
        return _field("levelPressed", "1-5 or null")
    if event["kind"] in ("no_reason", "changed") and level not in (1, 2):
        return _field("levelPressed", "1 or 2 for no_reason and changed")
    for name in ("shownAt", "endedAt"):
        if not isinstance(event[name], str) or not TIME.match(event[name]):
            return _field(name, "yyyy-MM-dd HH:mm:ss")
    for name in ("clockSynced", "rateLater"):
        if not isinstance(event[name], bool):
            return _field(name, "a boolean")
    if not isinstance(event["signature"], str):
        return _field("signature", "a string")
    return None


def check_event(event: Any, device_id: str, keys: Mapping[str, str]) -> CheckedEvent | Rejection:
    rejection = validate_event(event)
    if rejection is not None:
        return rejection
    if event["deviceId"] != device_id:
        return Rejection("E_SIGNATURE", "the event's deviceId is not the sending device")
    public = keys.get(event["keyId"])
    if public is None:
        return Rejection("E_SIGNATURE", "keyId is not a key of the sending device")
    try:
        canonical = canonical_json(event)
    except NotCanonicalError:
        return _field("$", "not canonical JSON values")
    if not verify_record(public_key_from_b64(public), event):
        return Rejection("E_SIGNATURE", "the event signature does not verify")
    return CheckedEvent(
        event_id=event["eventId"],
        device_id=device_id,
        event_seq=event["eventSeq"],
        prev_hash=event["prevHash"],
        event_hash=sha256_hex(canonical),
        kind=event["kind"],
        project_no=event["projectNo"],
        cases=tuple({event["projectNo"], *(event["batchProjectNos"] or ())}),
        assess_number=event["assessNumber"],
        level_pressed=event["levelPressed"],
        ended_at=event["endedAt"],
        pro_manager_no=event["proManagerNo"],
        pro_manager=event["proManager"],
        canonical=canonical.decode("utf-8"),
    )


class EventsEndpoint:
    """Takes one device's batch of case events."""

    def __init__(
        self,
        store: ProvinceStore,
        events: EventStore,
        clock: Callable[[], float],
        receipt_key: Callable[[], ProvinceKey | None] = lambda: None,
    ) -> None:
        """*receipt_key* gives the key that signs receipts now, or None (a version-1 province)."""
        self.store = store
        self.events = events
        self.clock = clock
        self.receipt_key = receipt_key

    def __call__(self, request: Request) -> Reply:
        device_id = request.device_id or ""
        body = json_body(request.raw)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise ApiError(400, "E_JSON", 'the body must be {"deviceId": …, "events": […]}')
        if body.get("deviceId") != device_id:
            raise auth_error("the body's deviceId is not the signing device")
        events = body["events"]
        if len(events) > MAX_BATCH_EVENTS:
            raise ApiError(413, "E_TOO_LARGE", f"at most {MAX_BATCH_EVENTS} events per batch")
        keys = self.store.device_keys(device_id)
        verdicts = [check_event(event, device_id, keys) for event in events]
        checked = [v for v in verdicts if isinstance(v, CheckedEvent)]
        stored = iter(self.events.add(checked, self.clock()))
        results = []
        for event, verdict in zip(events, verdicts, strict=True):
            event_id = event.get("eventId") if isinstance(event, dict) else None
            if isinstance(verdict, Rejection):
                results.append({"eventId": event_id, "status": "rejected", **verdict.as_json()})
                continue
            status = next(stored)
            if status == "conflict":
                conflict = Rejection("E_CONFLICT", "this eventId was stored with other bytes")
                results.append({"eventId": event_id, "status": "rejected", **conflict.as_json()})
            else:
                results.append({"eventId": event_id, "status": status})
        key = self.receipt_key()
        if key is not None:
            self._add_receipts(device_id, results, verdicts, key)
        return Reply(200, {"results": results})

    def _add_receipts(
        self,
        device_id: str,
        results: list[dict[str, Any]],
        verdicts: list[CheckedEvent | Rejection],
        key: ProvinceKey,
    ) -> None:
        """`receivedAt` (when first stored; a duplicate repeats it) and the signed receipt on
        every accepted or duplicate result, as for ratings."""
        taken = [
            (result, verdict)
            for result, verdict in zip(results, verdicts, strict=True)
            if result["status"] in ("accepted", "duplicate") and isinstance(verdict, CheckedEvent)
        ]
        times = self.events.received_times([v.event_id for _, v in taken])
        for result, event in taken:
            receipt = Receipt(
                RecordKind.EVENT,
                device_id,
                event.event_id,
                event.event_seq,
                event.event_hash,
                Acknowledged(result["status"]),
                beijing_time(times[event.event_id]),
            )
            result.update(receipt_fields(key, receipt))
