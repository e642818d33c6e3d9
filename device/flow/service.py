"""Whether the device stops or resumes taking ratings after its own health check.

Pure: the check's findings in, a verdict out; the main loop applies it to the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from device.flow.rating_flow import Phase, Problem

# problems that a health check can see gone; a missing key waits for the storage retry
CLEARED_BY_HEALTH = (Problem.DISK, Problem.LEDGER)


class Verdict(Enum):
    KEEP = "keep"  # nothing changes
    DISK_FULL = "disk_full"  # out of service: free disk below the minimum
    BACK_IN_SERVICE = "back_in_service"


def after_health_check(
    disk_ok: bool, phase: Phase, problem: Problem | None, ledger_writable: Callable[[], bool]
) -> Verdict:
    """`ledger_writable` is asked only when the answer matters: it commits a real write to
    the ledger, since a device back in service on a ledger that only looks writable would
    lose every press after."""
    current = problem if phase is Phase.OUT_OF_SERVICE else None
    if not disk_ok and current is None:
        return Verdict.DISK_FULL
    if disk_ok and current in CLEARED_BY_HEALTH and ledger_writable():
        return Verdict.BACK_IN_SERVICE
    return Verdict.KEEP
