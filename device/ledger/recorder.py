"""Turning what the rater did into ledger entries: a finished rating becomes a signed record,
a case left unrated becomes a signed, chained case event. Times come from the device clock with its
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
from device.ledger.case_events import StoredEvent
from device.ledger.store import Ledger, LedgerError, StoredRating
from device.record.case_event import CaseEnding, EventKind, event_body, kind_for
from device.record.rating import Case, Press, Site, Source, assess_time, record_body

log = logging.getLogger(__name__)


def signed_reaction_ms(choice: Choice) -> int:
    """The record's reactionMs. On the web page, the browser's own measure (from the page
    becoming visible to the press) when it is plausible: not negative, and not longer than
    the device's, which runs from serving the page to the press arriving and so holds it.
    Otherwise (no browser measure, or an impossible one) the device's."""
    page = choice.page_reaction_ms
    if choice.source is Source.WEB and page is not None and 0 <= page <= choice.reaction_ms:
        return page
    return choice.reaction_ms


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
        reaction = signed_reaction_ms(choice)
        press = Press(
            level=choice.level,
            source=choice.source,
            reaction_ms=reaction,
            assessed_at=self._wall_time_of(choice.pressed_at),
            clock_synced=self.clock.synced(),
            eval_detail=choice.tags,
            indicators=choice.indicators,
            theme_levels=choice.theme_levels,
        )
        body = record_body(str(uuid.uuid4()), choice.case, self.site, press)
        web = None
        if choice.source is Source.WEB:
            web = (choice.page_reaction_ms, choice.reaction_ms)
        return self.ledger.append(body, self.key, self.vault, web_reaction=web)

    def not_rated(self, ended: NotRated, *, code_handed_out: bool = False) -> StoredEvent | None:
        """Store a case that left the screen unrated as a case event; never raises (the
        rater is not waiting on it), a failure is logged. `rateLater` is true when the
        page showed the rate-later code (a timeout, a reasons page left alone) or the local
        API handed one out for the receipt (*code_handed_out*)."""
        try:
            kind = kind_for(ended.reason)
        except ValueError as exc:
            log.error("case event not stored: %s", exc)
            return None
        now = self.clock.now()
        shown = now if ended.shown_at is None else self._wall_time_of(ended.shown_at)
        level = int(ended.level) if ended.level is not None else None
        shown_code = kind in (EventKind.NOT_RATED, EventKind.NO_REASON)
        return self._event(ended.case, kind, level, shown, now, shown_code or code_handed_out)

    def hold_bad_press(self, case: Case, level: int, shown_at: float | None) -> None:
        """A bad level pressed on a case still on screen: on disk at once, so that neither a
        restart nor a power cut before the case ends can lose it (it becomes an
        `out_of_service` event at the next start). Never raises; a failure is logged."""
        now = self.clock.now()
        shown = now if shown_at is None else self._wall_time_of(shown_at)
        ending = CaseEnding(
            case, EventKind.OUT_OF_SERVICE, level, shown, now, self.clock.synced(), False
        )
        try:
            self.ledger.events.hold_bad_press(event_body(str(uuid.uuid4()), self.site, ending))
        except LedgerError as exc:
            log.error("bad press not held: %s", exc)

    def recover_held(self) -> int:
        """At start: bad presses of cases the device stopped on become their case events."""
        try:
            count = self.ledger.events.recover_held(self.key, assess_time(self.clock.now()))
        except LedgerError as exc:
            log.error("held bad presses not recovered: %s", exc)
            return 0
        if count:
            log.warning("%d bad press(es) of cases left on screen at the last stop recorded", count)
        return count

    def changed(self, choice: Choice) -> StoredEvent | None:
        """A stored rating whose rater first pressed a bad level, then chose again: the
        first press stays on record as a `changed` event."""
        if choice.changed_from is None:
            return None
        shown = self._wall_time_of(choice.pressed_at - choice.reaction_ms / 1000)
        level = int(choice.changed_from)
        return self._event(choice.case, EventKind.CHANGED, level, shown, self.clock.now(), False)

    def _event(
        self,
        case: Case,
        kind: EventKind,
        level: int | None,
        shown_at: datetime,
        ended_at: datetime,
        rate_later: bool,
    ) -> StoredEvent | None:
        ending = CaseEnding(case, kind, level, shown_at, ended_at, self.clock.synced(), rate_later)
        body = event_body(str(uuid.uuid4()), self.site, ending)
        try:
            stored = self.ledger.events.append(body, self.key)
        except LedgerError as exc:
            log.error("case event %s not stored: %s", kind.value, exc)
            return None
        log.info("case not rated: %s (event %d)", kind.value, stored.event_seq)
        return stored
