"""Retry delays: exponential backoff with full jitter, and the province's Retry-After obeyed.

Pure: the random source is passed in, so a fleet of devices spreads out and tests repeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable


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
        delay = self.uniform(0.0, ceiling)
        if retry_after_s is not None:
            # at least what the province asked, spread so a fleet does not return at once
            delay += min(retry_after_s, self.cap_s)
        return delay
