"""Retry delays: exponential backoff with full jitter, and the province's Retry-After obeyed.

Pure: the random source is passed in, so a fleet of devices spreads out and tests repeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_RETRY_AFTER_S = 3600.0  # a sanity limit on what a province may ask


class Backoff:
    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.uniform = uniform
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """Delay before the next try after one more failure."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures, 30))
        self.failures += 1
        if not retry_after_s:  # None, or 0 after E_CLOCK / E_REPLAY: full jitter
            return self.uniform(0.0, ceiling)
        # at least what the province asked, then spread over as long again (up to the cap),
        # so a fleet told "Retry-After: 30" comes back over 30-60 s, not all at 30
        wait = min(retry_after_s, MAX_RETRY_AFTER_S)
        return wait + self.uniform(0.0, min(self.cap_s, max(ceiling, wait)))
