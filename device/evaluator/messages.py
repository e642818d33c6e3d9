"""What the local API's threads and the keypad's reader hand to the main loop.

One small frozen dataclass per kind; the loop takes them in order and `match`es on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.flow.presenter import Touch
from device.keypad.events import KeypadEvent
from device.record.rating import Case, Staff


@dataclass(frozen=True)
class PushCase:
    """Show this case for rating (staff already filled in where the window's is meant)."""

    case: Case
    page_id: str | None = None  # the browser page that will show it (a web terminal)


@dataclass(frozen=True)
class CancelCase:
    """End the case on screen, not yet rated, as cancelled."""

    project_no: str


@dataclass(frozen=True)
class SignIn:
    staff: Staff


@dataclass(frozen=True)
class SignOut:
    pass


@dataclass(frozen=True)
class PageOpened:
    """The rater's browser fetched the rating page *page_id* (monotonic time *at*)."""

    page_id: str
    at: float


@dataclass(frozen=True)
class PagePress:
    """A press on the rating page *page_id*, its token and origin already checked."""

    page_id: str
    touch: Touch
    at: float  # monotonic: when the press reached the device
    page_reaction_ms: int | None  # from the page becoming visible, as the browser measured


Message = PushCase | CancelCase | SignIn | SignOut | PageOpened | PagePress | KeypadEvent
