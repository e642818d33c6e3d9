"""The device's own checks, run at quiet moments: free disk space, whether ratings are leaving
(backlog that does not move means offline), and the clock's synchronisation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from device.ledger.store import Ledger


@dataclass(frozen=True)
class Health:
    disk_ok: bool
    backlog: int
    delivery_stuck: bool  # unsent ratings and none delivered since the previous check

    @property
    def shown_backlog(self) -> int | None:
        return self.backlog if self.delivery_stuck else None


class HealthCheck:
    def __init__(self, ledger: Ledger, state_dir: Path, min_free_bytes: int) -> None:
        self.ledger = ledger
        self.state_dir = state_dir
        self.min_free_bytes = min_free_bytes
        self._last_oldest_unsent: int | None = None

    def free_bytes(self) -> int:
        stats = os.statvfs(self.state_dir)
        return stats.f_bavail * stats.f_frsize

    def run(self) -> Health:
        front = self.ledger.outbox.front()
        backlog, oldest = front.size, front.oldest_seq
        stuck = backlog > 0 and oldest == self._last_oldest_unsent
        self._last_oldest_unsent = oldest
        return Health(self.free_bytes() >= self.min_free_bytes, backlog, stuck)
