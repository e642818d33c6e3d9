"""One delivery round: the oldest unsent ratings out through the adapter, its answers recorded.

Delivered ratings (accepted, duplicate, exported) are marked and lose their personal data in
one transaction; rejected ones go to quarantine with the code and message, never resent
blindly and never deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from device.identity_vault import IdentityVault
from device.ledger import Ledger
from sync.adapter import Adapter

log = logging.getLogger(__name__)
ENVELOPE_BYTES = 4096  # room for {"deviceId": …, "records": [ … ]}


@dataclass(frozen=True)
class RoundResult:
    sent: int
    delivered: int
    quarantined: int


class Sender:
    def __init__(
        self,
        ledger: Ledger,
        adapter: Adapter,
        vault: IdentityVault | None,
        batch_size: int = 500,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self.adapter = adapter
        self.vault = vault
        self.batch_size = min(batch_size, adapter.max_records)
        self.now = now

    def send_round(self) -> RoundResult:
        """Send one batch; raises ProvinceError subclasses when the batch was not taken."""
        batch = self.ledger.unsent(
            self.batch_size, self.vault, self.adapter.max_bytes - ENVELOPE_BYTES
        )
        if not batch:
            return RoundResult(0, 0, 0)
        results = self.adapter.deliver([r.record for r in batch])
        delivered = {d.evaluation_id: d.status for d in results if d.delivered}
        rejected = {
            d.evaluation_id: (d.code or "E_UNKNOWN", d.message or "")
            for d in results
            if not d.delivered
        }
        for eid, (code, _) in rejected.items():
            log.warning("rating %s rejected: %s", eid, code)
        self.ledger.mark_delivered(delivered, self.now().isoformat(timespec="seconds"))
        if rejected:
            self.ledger.quarantine(rejected)
        return RoundResult(len(batch), len(delivered), len(rejected))
