"""Requests per second at the stand-in province, for fleet benchmarks and chaos runs.

Counts device calls (not the admin interface or the web page) per wall-clock second.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

KEEP_SECONDS = 24 * 3600  # the histogram forgets seconds older than this


class RequestStats:
    """Total, per-second histogram, peak and mean of device calls; answers by status."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._per_second: Counter[int] = Counter()
        self._by_status: Counter[str] = Counter()
        self._total = 0

    def arrived(self) -> int:
        """The second a call arrived in; pass it to `record()` once it is answered."""
        return int(self.clock())

    def record(self, second: int, status: int | None) -> None:
        """Count one call; *status* None when the connection was closed without an answer."""
        with self._lock:
            self._total += 1
            self._per_second[second] += 1
            self._by_status["dropped" if status is None else str(status)] += 1
            if len(self._per_second) > KEEP_SECONDS:
                for old in sorted(self._per_second)[: len(self._per_second) - KEEP_SECONDS]:
                    del self._per_second[old]

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    def snapshot(self, *, reset: bool = False) -> dict[str, Any]:
        """JSON: total, byStatus, perSecond {unix second: calls}, peak and mean per second.

        The mean is over every second from the first call to the last, idle seconds included.
        With *reset*, counting starts anew from zero right after this snapshot.
        """
        with self._lock:
            per_second = dict(sorted(self._per_second.items()))
            by_status = dict(sorted(self._by_status.items()))
            total = self._total
            if reset:
                self._per_second.clear()
                self._by_status.clear()
                self._total = 0
        first, last = (min(per_second), max(per_second)) if per_second else (None, None)
        span = (last - first + 1) if first is not None and last is not None else 0
        return {
            "total": total,
            "byStatus": by_status,
            "firstSecond": first,
            "lastSecond": last,
            "peakPerSecond": max(per_second.values(), default=0),
            "meanPerSecond": round(sum(per_second.values()) / span, 3) if span else 0.0,
            "perSecond": {str(second): count for second, count in per_second.items()},
        }
