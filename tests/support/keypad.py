"""Listening to a KeypadLink from a test: its events, collected from the link's reader thread,
and the quick timings that make a lost or replugged board show within a second."""

from __future__ import annotations

import threading

from device.keypad.events import KeypadEvent
from tests.support.polling import wait_until

DEADLINE = 5.0
FAST = {"ping_interval": 0.1, "lost_after": 0.4, "reopen_interval": 0.05}


class EventLog:
    """Collects the link's events (from its reader thread) for the test to wait on."""

    def __init__(self) -> None:
        self.events: list[KeypadEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: KeypadEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list[KeypadEvent]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, kind: type, count: int = 1) -> KeypadEvent:
        wait_until(lambda: len(self.of(kind)) >= count, f"{count} × {kind.__name__}", DEADLINE)
        return self.of(kind)[count - 1]
