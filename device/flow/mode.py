"""The evaluator's mode: a window evaluator beside a counter, or a self-service terminal.

The values are what the configuration file and the local API's status carry.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    WINDOW = "window"  # pf 4: staff signed in, keypad and touch
    SELF_SERVICE = "self_service"  # pf 5: no staff, touch only

    @property
    def needs_staff(self) -> bool:
        """A window evaluator is paused until its staff member signs in."""
        return self is Mode.WINDOW

    @property
    def takes_keys(self) -> bool:
        """Only a window evaluator has a keypad; a self-service terminal is touch only."""
        return self is Mode.WINDOW
