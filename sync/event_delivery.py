"""Delivering case events (spec v1.1, `POST /case-events:batch`) with the ratings' machinery.

The same `Sender` drains the ledger's case events through `EventOutbox` and
`ProvinceEventAdapter`: oldest first, the same envelope limits, outages, backoff and
quarantine. Each acknowledgement is kept with the province's receipt when one came; whether a
receipt is good enough is the one call `ReceiptCheck`. A version-1 province answers 404: the
events then stay on the device, `status` says so, and the endpoint is asked again only after
`RECHECK_MISSING_S`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from device.ledger.case_events import EventAck
from device.ledger.store import Ledger
from device.record.canonical import sha256_hex
from device.record.receipt import Acknowledged, Receipt, RecordKind
from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.province_client import (
    MAX_BYTES,
    MAX_RECORDS,
    OperatorNeededError,
    ProvinceClient,
    RetryableError,
)
from sync.sender import Pending, RoundResult, Sender

log = logging.getLogger(__name__)
EVENTS_PATH = "/case-events:batch"
RECHECK_MISSING_S = 6 * 3600.0  # a version-1 province is asked again after this long


@dataclass(frozen=True)
class EventDelivery(Delivery):
    """The province's answer for one event, with its receipt as sent (unchecked)."""

    receipt: Receipt | None = None


# Whether a receipt acknowledges exactly this event: (event as sent, receipt or None) → bool.
ReceiptCheck = Callable[[Pending, Receipt | None], bool]


def receipt_matches(sent: Pending, receipt: Receipt | None) -> bool:
    """Until the province key is pinned at enrolment: no receipt (a province without them)
    is taken as it is; a receipt must name exactly the event sent — its id, eventSeq and the
    hash of the bytes sent. The signature is not checked here (no pinned key yet)."""
    if receipt is None:
        return True
    return (
        receipt.kind is RecordKind.EVENT
        and receipt.record_id == sent.record_id
        and receipt.seq == sent.seq
        and receipt.record_hash == sha256_hex(sent.canonical)
    )


class EventOutbox:
    """The ledger's case events as a Sender drains them."""

    what = "case event"

    def __init__(self, ledger: Ledger, check: ReceiptCheck = receipt_matches) -> None:
        self.ledger = ledger
        self.check = check

    def unsent(self, limit: int, max_bytes: int, after_seq: int) -> Sequence[Pending]:
        return self.ledger.events.unsent(limit, max_bytes, after_seq=after_seq)

    def record(self, batch: Sequence[Pending], results: list[Delivery], at: str) -> RoundResult:
        sent = {p.record_id: p for p in batch}
        acks: list[EventAck] = []
        unproven: list[str] = []
        for result in results:
            if not result.delivered:
                continue
            receipt = result.receipt if isinstance(result, EventDelivery) else None
            if not self.check(sent[result.evaluation_id], receipt):
                unproven.append(result.evaluation_id)
                continue
            acks.append(
                EventAck(
                    result.evaluation_id,
                    result.status.value,
                    receipt.signature if receipt else None,
                    receipt.received_at if receipt else None,
                )
            )
        rejected = {
            d.evaluation_id: (d.code or "E_UNKNOWN", d.message or "")
            for d in results
            if not d.delivered
        }
        for event_id, (code, _) in rejected.items():
            log.warning("case event %s rejected: %s", event_id, code)
        delivered = self.ledger.events.delivered(acks, at) if acks else 0
        if rejected:
            self.ledger.events.quarantine(rejected)
        if unproven:  # never a silent delivery: retried after a backoff, and shown as an error
            raise RetryableError(
                f"{len(unproven)} case events acknowledged without a matching receipt",
                "E_RECEIPT",
            )
        return RoundResult(len(batch), delivered, len(rejected))


class ProvinceEventAdapter:
    """`POST /case-events:batch` of spec v1.1, on its own signed HTTP client."""

    name = "province-v1.1-events"
    max_records = MAX_RECORDS
    max_bytes = MAX_BYTES

    def __init__(self, client: ProvinceClient) -> None:
        self.client = client

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        if not 0 < len(records) <= MAX_RECORDS:
            raise ValueError(f"a batch holds 1-{MAX_RECORDS} events")
        device_id = json.dumps(self.client.device_id, ensure_ascii=False).encode()
        body = b"".join(
            (
                b'{"deviceId":',
                device_id,
                b',"events":[',
                b",".join(record.canonical for record in records),
                b"]}",
            )
        )
        data = self.client.call_with_body("POST", EVENTS_PATH, body)
        return _deliveries(data, records, self.client.device_id)

    def close(self) -> None:
        self.client.close()


def _deliveries(
    data: Any, records: Sequence[OutgoingRecord], device_id: str
) -> list[EventDelivery]:
    """One checked result per event sent, in order; anything else is a retryable error."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(records):
        raise RetryableError("province answered without one result per case event")
    out = []
    for sent, result in zip(records, results, strict=True):
        if not isinstance(result, dict) or result.get("eventId") != sent.evaluation_id:
            raise RetryableError("province results do not match the case events sent")
        out.append(_delivery(result, sent, device_id))
    return out


def _delivery(result: dict[str, Any], sent: OutgoingRecord, device_id: str) -> EventDelivery:
    status = result.get("status")
    event_id = sent.evaluation_id
    if status not in (DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE):
        return EventDelivery(
            event_id,
            DeliveryStatus.REJECTED,
            str(result.get("code", "E_UNKNOWN"))[:64],
            str(result.get("message", ""))[:200],
        )
    receipt = None
    signature, received_at = result.get("receipt"), result.get("receivedAt")
    if isinstance(signature, str) and isinstance(received_at, str):
        receipt = Receipt(
            RecordKind.EVENT,
            device_id,
            event_id,
            int(json.loads(sent.canonical).get("eventSeq", 0)),
            sha256_hex(sent.canonical),
            Acknowledged(status),
            received_at,
            signature,
        )
    return EventDelivery(event_id, DeliveryStatus(status), receipt=receipt)


class EventRounds:
    """One round of case events after each round of ratings; a version-1 province's 404 puts
    them aside (on the device) instead of into an error loop."""

    def __init__(
        self,
        ledger: Ledger,
        sender: Sender,
        *,
        recheck_missing_s: float = RECHECK_MISSING_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.sender = sender
        self.recheck_missing_s = recheck_missing_s
        self.monotonic = monotonic
        self._missing_until: float | None = None
        if ledger.sync_state.read().events_endpoint_missing_since is not None:
            self._missing_until = monotonic()  # ask once at start: it may have been upgraded

    @property
    def endpoint_missing(self) -> bool:
        return self._missing_until is not None

    def send_round(self) -> RoundResult:
        if self._missing_until is not None and self.monotonic() < self._missing_until:
            return RoundResult(0, 0, 0)
        try:
            result = self.sender.send_round()
        except OperatorNeededError as exc:
            if exc.status != 404:
                raise
            self._missing(str(exc))
            return RoundResult(0, 0, 0)
        if self._missing_until is not None and result.sent:
            self._missing_until = None
            self.ledger.sync_state.events_endpoint(None)
            log.info("the province takes case events now")
        return result

    def backlog(self) -> int:
        """Events still to deliver in this run (0 while the province has no endpoint)."""
        return 0 if self.endpoint_missing else self.ledger.events.backlog()

    def _missing(self, error: str) -> None:
        first = self._missing_until is None
        self._missing_until = self.monotonic() + self.recheck_missing_s
        if first or self.ledger.sync_state.read().events_endpoint_missing_since is None:
            log.warning("the province has no case-events endpoint (version 1): %s", error)
            self.ledger.sync_state.events_endpoint(datetime.now(UTC).isoformat(timespec="seconds"))

    def close(self) -> None:
        self.sender.close()
        self.sender.adapter.close()
