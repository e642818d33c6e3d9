"""One delivery round: the oldest unsent ratings out, the province's answers recorded.

Accepted and duplicate ratings become delivered (and lose their personal data) in one
transaction; rejected ones go to quarantine with the province's code and message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from device.identity_vault import IdentityVault
from device.ledger import Ledger
from sync.province_client import MAX_BYTES, ProvinceClient

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
        client: ProvinceClient,
        vault: IdentityVault | None,
        batch_size: int = 500,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.vault = vault
        self.batch_size = batch_size
        self.now = now

    def send_round(self) -> RoundResult:
        """Send one batch; raises ProvinceError subclasses when the batch was not taken."""
        batch = self.ledger.unsent(self.batch_size, self.vault, MAX_BYTES - ENVELOPE_BYTES)
        if not batch:
            return RoundResult(0, 0, 0)
        results = self.client.post_batch([r.record for r in batch])
        delivered: dict[str, str] = {}
        rejected: dict[str, tuple[str, str]] = {}
        for result in results:
            eid, status = result["evaluationId"], result.get("status")
            if status in ("accepted", "duplicate"):
                delivered[eid] = status
            elif status == "rejected":
                code = str(result.get("code", "E_UNKNOWN"))
                rejected[eid] = (code, str(result.get("message", "")))
                log.warning("rating %s rejected by the province: %s", eid, code)
        self.ledger.mark_delivered(delivered, self.now().isoformat(timespec="seconds"))
        if rejected:
            self.ledger.quarantine(rejected)
        return RoundResult(len(batch), len(delivered), len(rejected))
