"""What the local API's threads and the keypad's reader hand to the main loop.

One small frozen dataclass per kind; the loop takes them in order and `match`es on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.keypad.events import KeypadEvent
from device.record.rating import Case, Staff


@dataclass(frozen=True)
class PushCase:
    """Show this case for rating (staff already filled in where the window's is meant)."""

    case: Case


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


Message = PushCase | CancelCase | SignIn | SignOut | KeypadEvent
