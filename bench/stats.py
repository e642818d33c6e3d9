"""Percentiles for benchmark figures (nearest-rank, as latency targets are usually stated)."""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> str:
    return f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"
