"""Wall time, monotonic time, and whether the kernel clock is NTP-synchronised.

A Pi has no RTC: until NTP syncs, the wall clock may be years off, so every rating says
whether its time can be trusted (clockSynced) instead of the device inventing one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from datetime import UTC, datetime
from typing import Protocol

_TIME_ERROR = 5  # adjtimex() return value while the clock is unsynchronised


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    def synced(self) -> bool: ...


class SystemClock:
    """The machine's clocks; synchronisation read from the kernel with adjtimex(2)."""

    def __init__(self) -> None:
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        if self._libc is None:
            return False
        buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = self._libc.adjtimex(buf)
        return state not in (-1, _TIME_ERROR)
