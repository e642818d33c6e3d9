"""How requests spread over a window: count per interval, peak, mean and peak/mean.

Pure. The interval is one *simulated* second when the run's time is compressed, so the
figures mean what they would mean in the field (see `bench/fleet_reconnect.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadShape:
    counts: tuple[int, ...]  # requests in each interval from the window's start

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    @property
    def mean(self) -> float:
        """Requests per interval over the whole window, idle intervals included."""
        return self.total / len(self.counts) if self.counts else 0.0

    @property
    def ratio(self) -> float:
        return self.peak / self.mean if self.mean else 0.0

    def per_part(self, parts: int) -> list[int]:
        """Requests in each of *parts* equal slices of the window (the shape at a glance)."""
        slices = [0] * parts
        for index, count in enumerate(self.counts):
            slices[index * parts // len(self.counts)] += count
        return slices


def load_shape(times: Iterable[float], start: float, end: float, interval: float) -> LoadShape:
    """Count *times* in [start, end] per *interval*; the last interval may be partial."""
    if interval <= 0 or end < start:
        raise ValueError("need interval > 0 and end >= start")
    bins = max(1, math.ceil((end - start) / interval))
    counts = [0] * bins
    for moment in times:
        if start <= moment <= end:
            counts[min(bins - 1, int((moment - start) / interval))] += 1
    return LoadShape(tuple(counts))
