"""One delivery round: the oldest unsent records (ratings, or case events through their own
outbox) out through the adapter, its answers recorded.

Delivered ratings (accepted, duplicate, exported) are marked, with the province's receipt,
and lose their personal data in the same transaction; rejected ones go to quarantine with the
code and message, never resent blindly and never deleted. An acknowledgement without a
receipt that verifies is neither: the round fails (retryable) and the rating is sent again.

While a backlog drains, rounds overlap: the next batch is read while the province works on
one, leaves as soon as the answer is in, and that answer is recorded while the province
works on the next. Batches still go out one at a time and in seq order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.identity_key import vault_for_round
from device.ledger.identity_losses import Resigner
from device.ledger.store import Ledger, LedgerError, UnsentRating
from device.record.gm_answer import answer_digest
from sync.adapter import Adapter, Delivery, DeliveryStatus, OutgoingRecord
from sync.province_client import RetryableError

log = logging.getLogger(__name__)
ENVELOPE_BYTES = 4096  # room for {"deviceId": …, "records": [ … ]}


@dataclass(frozen=True)
class RoundResult:
    sent: int
    delivered: int
    quarantined: int


class Pending(Protocol):
    """One signed record waiting for delivery, as an outbox hands it out."""

    @property
    def seq(self) -> int: ...

    @property
    def record_id(self) -> str: ...

    @property
    def canonical(self) -> bytes: ...


class SenderOutbox(Protocol):
    """What a Sender drains: ratings (`RatingOutbox`) or case events
    (`sync.event_delivery.EventOutbox`), oldest first."""

    what: str  # for the log: "rating", "case event"

    def unsent(self, limit: int, max_bytes: int, after_seq: int) -> Sequence[Pending]: ...

    def record(self, batch: Sequence[Pending], results: list[Delivery], at: str) -> RoundResult:
        """Mark what the province took and quarantine what it rejected."""
        ...


class RatingOutbox:
    """The ledger's ratings as a Sender drains them; with a *resigner* (the device key) a
    rating whose personal data is lost goes out without it (`Outbox.unsent`)."""

    what = "rating"

    def __init__(
        self, ledger: Ledger, vault: IdentityVault | None, resigner: Resigner | None = None
    ) -> None:
        self.ledger = ledger
        self.vault = vault
        self.resigner = resigner

    def unsent(self, limit: int, max_bytes: int, after_seq: int) -> list[UnsentRating]:
        """Raises WrongIdentityKeyError, nothing read, while neither the vault nor the key
        its file holds now sealed the personal data held (it may have been sealed since this
        sync started)."""
        if self.vault is not None:
            self.vault = vault_for_round(self.ledger, self.vault)
        return self.ledger.unsent(
            limit, self.vault, max_bytes, after_seq=after_seq, resigner=self.resigner
        )

    def record(self, batch: Sequence[Pending], results: list[Delivery], at: str) -> RoundResult:
        delivered: dict[str, str] = {d.evaluation_id: d.status for d in results if d.delivered}
        rejected = rejections(results, self.what)
        self.ledger.outbox.mark_delivered(
            delivered,
            at,
            seqs={r.record_id: r.seq for r in batch},
            receipts=receipts_of(results),
            answers=answers_of(results),
        )
        if rejected:
            self.ledger.quarantine(rejected)
        return RoundResult(len(batch), len(delivered), len(rejected))


def receipts_of(results: list[Delivery]) -> dict[str, tuple[str, str]]:
    """(receipt, receivedAt) of every delivered record that came with a receipt."""
    return {
        d.evaluation_id: (d.receipt, d.received_at or "")
        for d in results
        if d.delivered and d.receipt is not None
    }


def answers_of(results: list[Delivery]) -> dict[str, tuple[bytes, bytes]]:
    """The signed answers (a 国密 province's) behind delivered records, by digest."""
    return {
        answer_digest(d.answer[0]): d.answer
        for d in results
        if d.delivered and d.answer is not None
    }


def rejections(results: list[Delivery], what: str) -> dict[str, tuple[str, str]]:
    """What the province refused for good (quarantine); an unproven answer is neither
    delivered nor refused: it is sent again."""
    rejected = {
        d.evaluation_id: (d.code or "E_UNKNOWN", d.message or "")
        for d in results
        if d.status is DeliveryStatus.REJECTED
    }
    for record_id, (code, _) in rejected.items():
        log.warning("%s %s rejected: %s", what, record_id, code)
    for d in results:
        if d.status is DeliveryStatus.UNPROVEN:
            log.warning("%s %s not delivered: %s", what, d.evaluation_id, d.message)
    return rejected


@dataclass(frozen=True)
class _Flight:
    """A batch on its way and the adapter's answer to come."""

    batch: Sequence[Pending]
    answer: Future[list[Delivery]]


class Sender:
    def __init__(
        self,
        ledger: Ledger,
        adapter: Adapter,
        vault: IdentityVault | None,
        batch_size: int = 500,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        overlap: bool = True,
        outbox: SenderOutbox | None = None,
        key: DeviceKey | None = None,
    ) -> None:
        """overlap=False: each round sends its batch and records the answer before it
        returns, with nothing left on the way. *outbox*: what to drain, the ledger's ratings
        unless told otherwise (case events). *key*: the device's current key, which signs a
        rating sent without the personal data it lost; without it such a rating is kept
        back in quarantine."""
        resigner = Resigner(key, now) if key is not None else None
        self.outbox = outbox or RatingOutbox(ledger, vault, resigner)
        self.ledger = ledger
        self.adapter = adapter
        self.vault = vault
        self.batch_size = min(batch_size, adapter.max_records)
        self.now = now
        self._poster = ThreadPoolExecutor(1, "sync-post") if overlap else None
        self._flight: _Flight | None = None

    def close(self) -> None:
        """Wait for a batch still on its way (its answer is recorded next run) and end the
        posting thread."""
        if self._poster is not None:
            self._poster.shutdown(wait=True)

    def send_round(self) -> RoundResult:
        """Send one batch and record the adapter's answer; raises ProvinceError subclasses
        when the batch was not taken.

        If more ratings wait behind the batch, the next batch is already on its way when this
        returns (the next round records its answer); if this batch was not taken, that next
        batch is not sent and the next round starts again from the oldest unsent rating."""
        self.ledger.scrub_purged()  # the previous round's deleted personal data, out of the WAL
        flight, self._flight = self._flight, None
        if flight is None:
            batch = self._unsent()
            if not batch:
                return RoundResult(0, 0, 0)
            flight = self._launch(batch)
        following = self._following(flight.batch[-1].seq)
        results = flight.answer.result()
        unproven = [d for d in results if d.status is DeliveryStatus.UNPROVEN]
        if following and not unproven:
            self._flight = self._launch(following)
        outcome = self._record(flight.batch, results)
        if unproven:
            first = unproven[0]
            raise RetryableError(
                f"{len(unproven)} of {len(results)} {self.outbox.what}s acknowledged without a "
                f"valid receipt; not marked delivered, sent again ({first.message})",
                first.code,
            )
        return outcome

    def _unsent(self, after_seq: int = 0) -> Sequence[Pending]:
        return self.outbox.unsent(
            self.batch_size, self.adapter.max_bytes - ENVELOPE_BYTES, after_seq
        )

    def _following(self, after_seq: int) -> Sequence[Pending]:
        """The batch behind the one on its way, read while the province works on that one."""
        if self._poster is None:
            return []
        try:
            return self._unsent(after_seq)
        except LedgerError as exc:  # read again from the oldest next round, and raised there
            log.debug("next batch not read ahead: %s", exc)
            return []

    def _launch(self, batch: Sequence[Pending]) -> _Flight:
        if self._poster is not None:
            return _Flight(batch, self._poster.submit(self._deliver, batch))
        answer: Future[list[Delivery]] = Future()
        try:
            answer.set_result(self._deliver(batch))
        except BaseException as exc:
            answer.set_exception(exc)
        return _Flight(batch, answer)

    def _deliver(self, batch: Sequence[Pending]) -> list[Delivery]:
        """Through the adapter, as the ledger's canonical bytes."""
        started = time.perf_counter()
        results = self.adapter.deliver(
            [OutgoingRecord(r.record_id, r.canonical, r.seq) for r in batch]
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("batch of %d: round trip %.1f ms", len(batch), elapsed_ms)
        return results

    def _record(self, batch: Sequence[Pending], results: list[Delivery]) -> RoundResult:
        return self.outbox.record(batch, results, self.now().isoformat(timespec="seconds"))
