"""No second rating of a case by re-pushing it: which pushed cases the local API refuses.

A case is refused (409) while the same case number is on screen (pushed and not yet ended,
whatever its `assessNumber`), and when the ledger already holds, for the same case number or
any case of its batch with the same `assessNumber`, a rating or a case event with a bad
overall level pressed. A follow-up (`assessNumber` 2) is refused while the case had a bad
level pressed at its first rating and holds no first rating: it would replace the bad press.
A case on screen is released only after the main loop committed its rating or its case
event, so a cancel followed at once by a re-push cannot slip between the two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from enum import Enum

from device.record.rating import Case

Settled = Callable[[Iterable[str], int], bool]
Unrated = Callable[[Iterable[str]], bool]

FIRST_RATING = 1  # the assessNumber of a case's first rating; a higher one is a follow-up


class Admission(Enum):
    ADMITTED = "admitted"
    ON_SCREEN = "on_screen"  # the same case number is still on screen
    ALREADY_RATED = "already_rated"  # rated, or a bad level pressed for it, in the ledger
    NOT_RATED_YET = "not_rated_yet"  # a follow-up of a case whose first rating was a bad press


def case_keys(case: Case) -> frozenset[tuple[str, int]]:
    """(case number, assessNumber) of the case and every case of its batch."""
    numbers = {case.project_no, *(case.batch_project_nos or ())}
    return frozenset((number, case.assess_number) for number in numbers)


class CaseGuard:
    """Thread-safe: the API's threads admit cases, the main loop releases them."""

    def __init__(
        self,
        settled: Settled,
        rated: Callable[[str], bool] | None = None,
        bad_press_unrated: Unrated | None = None,
    ) -> None:
        """*settled(numbers, assess_number)*: whether the ledger holds a rating or a bad
        press for any of those case numbers (on a connection of the caller's thread);
        *rated(number)*: whether it holds a first rating of that case;
        *bad_press_unrated(numbers)*: whether any of them had a bad level pressed at its
        first rating and holds no first rating."""
        self._settled = settled
        self._rated = rated
        self._bad_press_unrated = bad_press_unrated
        self._lock = threading.Lock()
        self._on_screen: set[tuple[str, int]] = set()

    def admit(self, case: Case) -> Admission:
        keys = case_keys(case)
        numbers = [number for number, _ in keys]
        with self._lock:
            if set(numbers) & {number for number, _ in self._on_screen}:
                return Admission.ON_SCREEN
            if self._settled(numbers, case.assess_number):
                return Admission.ALREADY_RATED
            if (
                case.assess_number > FIRST_RATING
                and self._bad_press_unrated is not None
                and self._bad_press_unrated(numbers)
            ):
                return Admission.NOT_RATED_YET
            self._on_screen |= keys
        return Admission.ADMITTED

    def already_rated(self, project_no: str) -> bool:
        """A first rating of the case is in the ledger: no code to rate it later."""
        if self._rated is None:
            return False
        with self._lock:
            return self._rated(project_no)

    def release(self, case: Case) -> None:
        """The case left the screen and what became of it is committed (or it was never
        taken): it may be judged by the ledger alone from now on."""
        with self._lock:
            self._on_screen -= case_keys(case)
