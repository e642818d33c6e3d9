"""Waiting for something another thread or process does: poll a condition until it holds,
with a deadline, and fail naming what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

DEADLINE_S = 5.0


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = DEADLINE_S,
    interval: float = 0.01,
) -> None:
    """Return as soon as `condition()` is true; fail the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
