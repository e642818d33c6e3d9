"""The sync loop: deliver while there is work, back off through outages, wake on new ratings.

Each round sends one batch of ratings, then one batch of case events (when the adapter
carries them): ratings first, events never starved, both through the same backoff.

New ratings are noticed through SQLite's data_version (it changes when another connection
commits), checked a few times a second: cheap, and no coupling to the evaluator process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from device.daemon.sdnotify import Watchdog, notify
from device.keys.identity_vault import VaultError
from device.ledger.store import Ledger, LedgerError
from sync.backoff import Backoff
from sync.province_client import OperatorNeededError, ProvinceError, RetryableError
from sync.sender import RoundResult, Sender

if TYPE_CHECKING:
    from sync.event_delivery import EventRounds

log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 0.2


class SyncDaemon:
    def __init__(
        self,
        ledger: Ledger,
        sender: Sender,
        *,
        idle_poll_s: float = 60.0,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        events: EventRounds | None = None,
    ) -> None:
        self.ledger = ledger
        self.sender = sender
        self.events = events
        self.idle_poll_s = idle_poll_s
        self.backoff = backoff or Backoff()
        self.monotonic = monotonic
        self.stop_event = threading.Event()
        self.last_error: str | None = None
        self.watchdog = Watchdog(monotonic)

    def stop(self) -> None:
        self.stop_event.set()

    def step(self) -> float:
        """One round; returns how long to wait before the next (0: more work is waiting)."""
        try:
            result = self.sender.send_round()
            if self.events is not None:
                events = self.events.send_round()
                result = RoundResult(
                    result.sent + events.sent,
                    result.delivered + events.delivered,
                    result.quarantined + events.quarantined,
                )
        except RetryableError as exc:
            delay = self.backoff.next_delay(exc.retry_after_s)
            log.warning("delivery deferred %.1f s: %s", delay, exc)
            self._failed(str(exc))
            return delay
        except (OperatorNeededError, ProvinceError, LedgerError, VaultError) as exc:
            delay = self.backoff.next_delay()
            log.error("delivery failed, needs attention (retry in %.0f s): %s", delay, exc)
            self._failed(str(exc))
            return delay
        self.backoff.reset()
        self.last_error = None
        if result.sent:
            log.info("delivered %d, quarantined %d", result.delivered, result.quarantined)
            self._remember(lambda: self.ledger.sync_state.delivered(_now(), result.delivered))
            return 0.0
        return self.idle_poll_s

    def _failed(self, error: str) -> None:
        if error != self.last_error:
            self._remember(lambda: self.ledger.sync_state.failed(error, _now()))
        self.last_error = error

    def _remember(self, record: Callable[[], None]) -> None:
        try:
            record()
        except LedgerError as exc:
            log.warning("%s", exc)

    def run(self) -> None:
        self.watchdog = Watchdog(self.monotonic)
        notify("READY=1")
        while not self.stop_event.is_set():
            self.watchdog.pet()
            delay = self.step()
            if delay > 0 and self.last_error is None:
                self._wait_for_new_ratings(delay)  # idle: a new rating wakes it at once
            elif delay > 0:
                self._wait_out(delay)  # backing off: new ratings wait with the rest
        notify("STOPPING=1")

    def run_until_empty(self, deadline_s: float) -> int:
        """Deliver until nothing is left or the deadline passes; returns the backlog left."""
        end = self.monotonic() + deadline_s
        while self.monotonic() < end and not self.stop_event.is_set():
            delay = self.step()
            if delay > 0 and self.backlog() == 0:
                break
            if delay > 0:
                self.stop_event.wait(min(delay, max(0.0, end - self.monotonic())))
        return self.backlog()

    def backlog(self) -> int:
        """Ratings, and case events the province can take, still to deliver."""
        events = self.events.backlog() if self.events is not None else 0
        return self.ledger.outbox.backlog() + events

    def _wait_out(self, delay_s: float) -> None:
        end = self.monotonic() + delay_s
        while not self.stop_event.wait(min(WATCH_INTERVAL_S, max(0.0, end - self.monotonic()))):
            self.watchdog.pet()
            if self.monotonic() >= end:
                return

    def _wait_for_new_ratings(self, timeout_s: float) -> None:
        end = self.monotonic() + timeout_s
        version = self._data_version()
        while not self.stop_event.wait(min(WATCH_INTERVAL_S, max(0.0, end - self.monotonic()))):
            self.watchdog.pet()
            if self.monotonic() >= end or self._data_version() != version:
                return

    def _data_version(self) -> int:
        return self.ledger.outbox.data_version()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
