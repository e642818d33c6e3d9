"""The evaluator's state machine: paused/idle → rating → (reasons) → storing → thanks → idle.

Pure: no pygame, no I/O, times passed in (monotonic seconds). One rating per case; presses
with no case on screen do nothing; a case that leaves the screen unrated ends as `NotRated`
with the reason, and the device never fills in a rating or a reason itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from device.record.rating import Case, Level, Source, Staff

OVERALL = "overall"
BUSINESS = "business"
SERVICE = "service"


class Phase(Enum):
    PAUSED = "paused"  # window mode with no staff signed in
    IDLE = "idle"
    RATING = "rating"
    REASONS = "reasons"  # a bad overall rating waits for the rater's reasons
    STORING = "storing"
    THANKS = "thanks"
    RATE_LATER = "rate_later"  # the QR code for rating on a phone
    OUT_OF_SERVICE = "out_of_service"


class Problem(StrEnum):
    """Why the device is out of service; the value is the status's `outOfService` word."""

    KEY = "oos_key"  # the device key is missing or unreadable: nothing can be signed
    DISK = "oos_disk"  # free disk space below the configured minimum
    LEDGER = "oos_ledger"  # the ledger cannot be opened or written


@dataclass(frozen=True)
class Timing:
    rating_s: float = 30.0
    reasons_s: float = 60.0
    thanks_s: float = 3.0
    rate_later_s: float = 20.0


@dataclass(frozen=True)
class Choice:
    """A rating the rater finished, not yet stored."""

    case: Case
    level: Level  # the overall level
    source: Source  # how the overall level was given
    reaction_ms: int  # from the page reaching the glass to the overall press
    pressed_at: float  # monotonic time of the overall press
    # the web page only: the same span as the rater's browser measured it, from the page
    # becoming visible to the press (reaction_ms is then the device's, from serving the page)
    page_reaction_ms: int | None = None
    tags: tuple[str, ...] = ()
    indicators: dict[str, int] | None = None
    theme_levels: tuple[int | None, ...] | None = None
    changed_from: Level | None = None  # a bad overall level pressed first, then changed


@dataclass(frozen=True)
class NotRated:
    """A case that left the screen without a rating, and why.

    An overall level pressed on the case is kept whatever ended it (cancel, another case,
    sign-out, timeout): a bad press never ends silently."""

    case: Case
    reason: str  # replaced, timeout, cancelled, no_reason, changed, staff_signed_out, …
    level: Level | None = None  # an overall level pressed but never completed, as evidence
    shown_at: float | None = None  # monotonic: when the case reached the screen


def rows_for(case: Case) -> tuple[str, ...]:
    """The rows of the rating page: overall first, then indicators, then theme items."""
    rows = [OVERALL]
    if case.indicators:
        rows += [BUSINESS, SERVICE]
    if case.theme is not None:
        rows += [f"item:{i}" for i in range(len(case.theme.items))]
    return tuple(rows)


@dataclass
class _Page:
    case: Case
    rows: tuple[str, ...]
    shown_at: float
    levels: dict[str, Level] = field(default_factory=dict)
    focus: int = 0  # the row the next keypad press rates
    # source, reaction ms, at, and the browser's reaction ms (web page only)
    overall_press: tuple[Source, int, float, int | None] | None = None
    tags: list[str] = field(default_factory=list)
    tag_page: int = 0  # the group of reason tags on screen
    asked_for_reason: bool = False  # 提交 was pressed with no reason chosen
    first_bad: Level | None = None  # the first bad overall level pressed, kept as evidence
    reached_glass: bool = False  # shown() was called: the rater's full time began there

    @property
    def multi_row(self) -> bool:
        return len(self.rows) > 1


class RatingFlow:
    def __init__(self, timing: Timing, needs_staff: bool) -> None:
        self.timing = timing
        self.needs_staff = needs_staff
        self.staff: Staff | None = None
        self.phase = Phase.PAUSED if needs_staff else Phase.IDLE
        self.page: _Page | None = None
        self.chosen: Level | None = None
        self.problem: Problem | None = None
        self._deadline: float | None = None

    # -- reading ----------------------------------------------------------------------

    @property
    def case(self) -> Case | None:
        return self.page.case if self.page else None

    @property
    def accepting_cases(self) -> bool:
        return self.phase not in (Phase.PAUSED, Phase.OUT_OF_SERVICE)

    def next_deadline(self) -> float | None:
        return self._deadline

    def seconds_left(self, now: float) -> int | None:
        if self._deadline is None or self.phase not in (Phase.RATING, Phase.REASONS):
            return None
        return max(0, int(self._deadline - now + 0.999))

    # -- staff ------------------------------------------------------------------------

    def sign_in(self, staff: Staff) -> None:
        self.staff = staff
        if self.phase is Phase.PAUSED:
            self.phase = Phase.IDLE

    def sign_out(self) -> list[NotRated]:
        self.staff = None
        if not self.needs_staff:
            return []
        ended = self._end_page("staff_signed_out")
        if self.phase is not Phase.OUT_OF_SERVICE:
            self._to_rest()
        return ended

    # -- cases ------------------------------------------------------------------------

    def push(self, case: Case, now: float) -> list[NotRated]:
        """Show a new case; one still waiting for its rating ends as replaced."""
        if not self.accepting_cases:
            return [NotRated(case, self.phase.value, shown_at=now)]
        if self.phase is Phase.STORING:
            return [NotRated(case, "busy", shown_at=now)]
        ended = self._end_page("replaced")
        self.page = _Page(case, rows_for(case), shown_at=now)
        self.phase = Phase.RATING
        self.chosen = None
        self._deadline = now + self.timing.rating_s
        return ended

    def cancel(self, project_no: str) -> list[NotRated]:
        if self.case is None or self.case.project_no != project_no:
            return []
        if self.phase not in (Phase.RATING, Phase.REASONS):
            return []
        ended = self._end_page("cancelled")
        self._to_rest()
        return ended

    def shown(self, now: float) -> None:
        """The rating page reached the glass: reaction time counts from here, and the first
        time, the rater's full rating time too (a terminal's browser may open the page a
        while after the push; a page never opened still times out from the push). Opening
        the page again does not extend the time."""
        page = self.page
        if self.phase is not Phase.RATING or page is None or page.levels:
            return
        page.shown_at = now
        if not page.reached_glass and self._deadline is not None:
            self._deadline = max(self._deadline, now + self.timing.rating_s)
        page.reached_glass = True

    # -- the rater's input ------------------------------------------------------------

    def press(
        self,
        level: Level,
        source: Source,
        at: float,
        row: str | None = None,
        page_reaction_ms: int | None = None,
    ) -> Choice | None:
        """A level given for a row (the focused row when none is named, as on the keypad);
        *page_reaction_ms*: the reaction time the rater's browser measured (web page)."""
        source = Source(source)
        page = self.page
        if self.phase is not Phase.RATING or page is None:
            return None
        if row is None:
            row = page.rows[page.focus]
        if row not in page.rows:
            return None
        page.levels[row] = level
        if row == OVERALL and level.is_bad and page.first_bad is None:
            page.first_bad = level
        if row == OVERALL:
            if page.overall_press is None:
                reaction = max(0, round((at - page.shown_at) * 1000))
                page.overall_press = (source, reaction, at, page_reaction_ms)
            self.chosen = level
        if not page.multi_row:
            return self._finish(at)
        unrated = [i for i, name in enumerate(page.rows) if name not in page.levels]
        if source is Source.KEYPAD and not unrated:
            return self._finish(at)  # a keypad-only rater completes by rating every row
        page.focus = unrated[0] if unrated else page.focus
        if self._deadline is not None:  # a rater still pressing keeps the page a full time
            self._deadline = max(self._deadline, at + self.timing.rating_s)
        return None

    def submit(self, now: float) -> Choice | None:
        """The 提交 button: on a multi-row page, or on the reasons page."""
        page = self.page
        if page is None:
            return None
        if self.phase is Phase.RATING and page.multi_row and OVERALL in page.levels:
            return self._finish(now)
        if self.phase is Phase.REASONS and page.tags:
            return self._choice(page)
        if self.phase is Phase.REASONS:
            page.asked_for_reason = True  # the page says to choose one first
        return None

    def toggle_tag(self, code: str) -> None:
        if self.phase is Phase.REASONS and self.page is not None:
            tags = self.page.tags
            tags.remove(code) if code in tags else tags.append(code)
            self.page.asked_for_reason = False

    @property
    def asked_for_reason(self) -> bool:
        return self.page.asked_for_reason if self.page else False

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.page.tags) if self.page else ()

    # -- paging: rows and reason tags that do not fit one screen --------------------------

    def show_row(self, index: int) -> None:
        """Turn a multi-row page to the screen holding row *index*; the keypad rates it next."""
        page = self.page
        if self.phase is Phase.RATING and page is not None and 0 <= index < len(page.rows):
            page.focus = index

    def show_tag_page(self, number: int) -> None:
        """Turn the reasons page to its page *number* of tags (nothing is selected by it)."""
        if self.phase is Phase.REASONS and self.page is not None and number >= 0:
            self.page.tag_page = number

    def next_tag_group(self, groups: int) -> None:
        """换一组: the next of *groups* groups of reasons, the first again after the last."""
        if self.phase is Phase.REASONS and self.page is not None and groups > 0:
            self.page.tag_page = (self.page.tag_page + 1) % groups

    @property
    def tag_page(self) -> int:
        return self.page.tag_page if self.page else 0

    # -- 重新选择: back from the reasons page to the rating page ---------------------------

    def choose_again(self, now: float) -> list[NotRated]:
        """The rater takes the bad level back: it ends as `changed` (with the level pressed,
        as evidence) and the rating page is shown again, unrated, for the rating page's whole
        time: a mis-press costs the rater nothing."""
        page = self.page
        if self.phase is not Phase.REASONS or page is None or self._deadline is None:
            return []
        ended = [NotRated(page.case, "changed", page.levels.get(OVERALL))]
        left = self.timing.rating_s
        page.first_bad = None  # on record now, in the `changed` event
        page.levels.pop(OVERALL, None)
        page.overall_press = None
        page.focus = page.rows.index(OVERALL)
        page.tags.clear()
        page.tag_page = 0
        page.asked_for_reason = False
        self.chosen = None
        self.phase = Phase.RATING
        self._deadline = now + max(0.0, left)
        return ended

    def _finish(self, now: float) -> Choice | None:
        page = self.page
        assert page is not None
        if page.levels[OVERALL].is_bad:
            self.phase = Phase.REASONS
            self._deadline = now + self.timing.reasons_s
            return None
        return self._choice(page)

    def _choice(self, page: _Page) -> Choice:
        assert page.overall_press is not None
        source, reaction, at, page_reaction = page.overall_press
        indicators = None
        if page.case.indicators and BUSINESS in page.levels and SERVICE in page.levels:
            indicators = {
                "business": int(page.levels[BUSINESS]),
                "service": int(page.levels[SERVICE]),
            }
        theme_levels = None
        if page.case.theme is not None:
            theme_levels = tuple(
                int(page.levels[f"item:{i}"]) if f"item:{i}" in page.levels else None
                for i in range(len(page.case.theme.items))
            )
        self.phase = Phase.STORING
        self._deadline = None
        overall = page.levels[OVERALL]
        return Choice(
            case=page.case,
            level=overall,
            source=source,
            reaction_ms=reaction,
            pressed_at=at,
            page_reaction_ms=page_reaction,
            tags=tuple(page.tags),
            indicators=indicators,
            theme_levels=theme_levels,
            changed_from=page.first_bad if page.first_bad not in (None, overall) else None,
        )

    # -- storage ----------------------------------------------------------------------

    def stored(self, now: float) -> None:
        """The ledger committed the rating: only now may the rater be thanked."""
        if self.phase is Phase.STORING:
            self.phase = Phase.THANKS
            self._deadline = now + self.timing.thanks_s

    def store_failed(self, problem: Problem) -> None:
        self.out_of_service(problem)

    def out_of_service(self, problem: Problem) -> list[NotRated]:
        ended = self._end_page("out_of_service")
        self.page = None
        self.phase = Phase.OUT_OF_SERVICE
        self.problem = problem
        self._deadline = None
        return ended

    def back_in_service(self) -> None:
        if self.phase is Phase.OUT_OF_SERVICE:
            self.problem = None
            self._to_rest()

    # -- time -------------------------------------------------------------------------

    def tick(self, now: float) -> list[NotRated]:
        if self._deadline is None or now < self._deadline:
            return []
        if self.phase is Phase.RATING:
            ended = self._end_page("timeout")
            self.phase = Phase.RATE_LATER
            self._deadline = now + self.timing.rate_later_s
            return ended
        if self.phase is Phase.REASONS:
            return self._reasons_timed_out(now)
        if self.phase in (Phase.THANKS, Phase.RATE_LATER):
            self.page = None
            self._to_rest()
        return []

    def _reasons_timed_out(self, now: float) -> list[NotRated]:
        """No reason in time: the case ends as `no_reason` and the rate-later code is shown,
        as after a rating page with no press."""
        ended = self._end_page("no_reason")
        self.phase = Phase.RATE_LATER
        self._deadline = now + self.timing.rate_later_s
        return ended

    # -- helpers ----------------------------------------------------------------------

    def _end_page(self, reason: str) -> list[NotRated]:
        """End the case on screen, if it is still waiting for the rater."""
        page = self.page
        if page is None or self.phase not in (Phase.RATING, Phase.REASONS):
            return []
        level = page.levels.get(OVERALL, page.first_bad)
        return [NotRated(page.case, reason, level, page.shown_at)]

    def _to_rest(self) -> None:
        self.phase = Phase.PAUSED if self.needs_staff and self.staff is None else Phase.IDLE
        self.page = None
        self.chosen = None
        self._deadline = None
