"""The evaluator's state machine: idle → rating → storing → thanks → idle.

Pure: no pygame, no I/O, times passed in. One press counts per case; presses with no
case on screen do nothing; a case replaced or timed out ends as "not rated".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from device.rating import Case, Level


class Phase(Enum):
    IDLE = "idle"
    RATING = "rating"
    STORING = "storing"
    THANKS = "thanks"
    OUT_OF_SERVICE = "out_of_service"


@dataclass(frozen=True)
class Choice:
    """A level chosen for the case on screen, not yet stored."""

    case: Case
    level: Level
    source: str
    reaction_ms: int


@dataclass(frozen=True)
class NotRated:
    """A case that left the screen without a rating, and why ("replaced", "timeout", …)."""

    case: Case
    reason: str


class RatingFlow:
    def __init__(self, rating_timeout_s: float, thanks_s: float) -> None:
        self.rating_timeout_s = rating_timeout_s
        self.thanks_s = thanks_s
        self.phase = Phase.IDLE
        self.case: Case | None = None
        self.chosen: Level | None = None
        self.problem: str | None = None
        self._shown_at: float | None = None
        self._deadline: float | None = None

    def push(self, case: Case, now: float) -> list[NotRated]:
        """Show a new case. An earlier case still waiting for a press ends as not rated."""
        ended: list[NotRated] = []
        if self.phase is Phase.OUT_OF_SERVICE:
            return [NotRated(case, "out_of_service")]
        if self.phase is Phase.RATING and self.case is not None:
            ended.append(NotRated(self.case, "replaced"))
        if self.phase is Phase.STORING:
            return [NotRated(case, "busy")]
        self.phase = Phase.RATING
        self.case = case
        self.chosen = None
        self._shown_at = now
        self._deadline = now + self.rating_timeout_s
        return ended

    def shown(self, now: float) -> None:
        """The rating page reached the glass: reaction time counts from here."""
        if self.phase is Phase.RATING:
            self._shown_at = now

    def press(self, level: Level, source: str, at: float) -> Choice | None:
        if self.phase is not Phase.RATING or self.case is None or self._shown_at is None:
            return None
        self.phase = Phase.STORING
        self.chosen = level
        reaction_ms = max(0, round((at - self._shown_at) * 1000))
        return Choice(self.case, level, source, reaction_ms)

    def stored(self, now: float) -> None:
        """The ledger committed the rating: only now may the rater be thanked."""
        if self.phase is Phase.STORING:
            self.phase = Phase.THANKS
            self._deadline = now + self.thanks_s

    def store_failed(self, problem: str) -> None:
        self.phase = Phase.OUT_OF_SERVICE
        self.problem = problem
        self._deadline = None

    def tick(self, now: float) -> list[NotRated]:
        if self._deadline is None or now < self._deadline:
            return []
        ended: list[NotRated] = []
        if self.phase is Phase.RATING and self.case is not None:
            ended.append(NotRated(self.case, "timeout"))
        if self.phase in (Phase.RATING, Phase.THANKS):
            self.phase = Phase.IDLE
            self.case = None
            self.chosen = None
            self._deadline = None
        return ended

    def next_deadline(self) -> float | None:
        return self._deadline
