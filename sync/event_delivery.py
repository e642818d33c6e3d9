"""Delivering case events (spec v1.1, `POST /case-events:batch`) with the ratings' machinery.

The same `Sender` drains the ledger's case events through `EventOutbox` and
`ProvinceEventAdapter`: oldest first, the same envelope limits, outages, backoff and
quarantine. With a province key pinned at enrolment an acknowledgement counts only with a
receipt that verifies for the exact bytes sent (`sync.receipts`), and is kept with it. A
version-1 province answers 404: the events then stay on the device, `status` says so, and the
endpoint is asked again only after `RECHECK_MISSING_S`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from device.ledger.case_events import EventAck
from device.ledger.store import Ledger
from device.record.receipt import RecordKind
from sync.adapter import Delivery, OutgoingRecord
from sync.province_client import (
    MAX_BYTES,
    MAX_RECORDS,
    OperatorNeededError,
    ProvinceClient,
    RetryableError,
)
from sync.receipts import SentRecord, delivery_of
from sync.sender import Pending, RoundResult, Sender, rejections

log = logging.getLogger(__name__)
EVENTS_PATH = "/case-events:batch"
RECHECK_MISSING_S = 6 * 3600.0  # a version-1 province is asked again after this long


class EventOutbox:
    """The ledger's case events as a Sender drains them."""

    what = "case event"

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def unsent(self, limit: int, max_bytes: int, after_seq: int) -> Sequence[Pending]:
        return self.ledger.events.unsent(limit, max_bytes, after_seq=after_seq)

    def record(self, batch: Sequence[Pending], results: list[Delivery], at: str) -> RoundResult:
        """Mark what the province acknowledged (with its receipt) and quarantine what it
        refused; an unproven acknowledgement is neither (the Sender sends it again)."""
        acks = [
            EventAck(d.evaluation_id, d.status.value, d.receipt, d.received_at)
            for d in results
            if d.delivered
        ]
        rejected = rejections(results, self.what)
        delivered = self.ledger.events.delivered(acks, at) if acks else 0
        if rejected:
            self.ledger.events.quarantine(rejected)
        return RoundResult(len(batch), delivered, len(rejected))


class ProvinceEventAdapter:
    """`POST /case-events:batch` of spec v1.1, on its own signed HTTP client."""

    name = "province-v1.1-events"
    max_records = MAX_RECORDS
    max_bytes = MAX_BYTES

    def __init__(self, client: ProvinceClient, province_key: str | None = None) -> None:
        """*province_key*: pinned at enrolment (base64); None for a version-1 province."""
        self.client = client
        self.province_key = province_key

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
        return _deliveries(data, records, self.client.device_id, self.province_key)

    def close(self) -> None:
        self.client.close()


def _deliveries(
    data: Any, records: Sequence[OutgoingRecord], device_id: str, province_key: str | None
) -> list[Delivery]:
    """One checked result per event sent, in order; anything else is a retryable error."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(records):
        raise RetryableError("province answered without one result per case event")
    out = []
    for sent, result in zip(records, results, strict=True):
        if not isinstance(result, dict) or result.get("eventId") != sent.evaluation_id:
            raise RetryableError("province results do not match the case events sent")
        record = SentRecord(RecordKind.EVENT, sent.evaluation_id, sent.canonical, sent.seq)
        out.append(delivery_of(result, record, device_id, province_key))
    return out


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
