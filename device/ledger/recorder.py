"""Turning what the rater did into ledger entries: a finished rating becomes a signed record,
a case left unrated becomes a signed outcome event. Times come from the device clock with its
synchronisation state; nothing is filled in for the rater.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from device.daemon.clock import Clock
from device.flow.rating_flow import Choice, NotRated
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger, LedgerError, StoredRating
from device.record.case_event import outcome_body
from device.record.rating import Press, Site, record_body

log = logging.getLogger(__name__)


class Recorder:
    def __init__(
        self, ledger: Ledger, key: DeviceKey, vault: IdentityVault, site: Site, clock: Clock
    ) -> None:
        self.ledger = ledger
        self.key = key
        self.vault = vault
        self.site = site
        self.clock = clock

    def _wall_time_of(self, monotonic_at: float) -> datetime:
        return self.clock.now() - timedelta(seconds=max(0.0, self.clock.monotonic() - monotonic_at))

    def rating(self, choice: Choice) -> StoredRating:
        """Store a finished rating durably; raises LedgerError if it could not be."""
        press = Press(
            level=choice.level,
            source=choice.source,
            reaction_ms=choice.reaction_ms,
            assessed_at=self._wall_time_of(choice.pressed_at),
            clock_synced=self.clock.synced(),
            eval_detail=choice.tags,
            indicators=choice.indicators,
            theme_levels=choice.theme_levels,
        )
        body = record_body(str(uuid.uuid4()), choice.case, self.site, press)
        return self.ledger.append(body, self.key, self.vault)

    def not_rated(self, ended: NotRated) -> None:
        """Store the outcome of a case that left the screen unrated; never raises (the
        rater is not waiting on it), a failure is logged."""
        body = outcome_body(
            str(uuid.uuid4()), self.site.device_id, ended, self.clock.now(), self.clock.synced()
        )
        try:
            self.ledger.record_outcome(body, self.key)
        except LedgerError as exc:
            log.error("case outcome %s not stored: %s", ended.reason, exc)
        else:
            log.info("case not rated: %s", ended.reason)
