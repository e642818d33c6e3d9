"""What the keypad link reports to the rest of the evaluator.

Events are delivered from the link's reader thread; `at` is the monotonic parse time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyPressed:
    """Key `key` (1 = leftmost) was pressed; `at` is when its frame was parsed."""

    key: int
    at: float


@dataclass(frozen=True)
class KeyReleased:
    """Key `key` was released (boards may not send this)."""

    key: int
    at: float


@dataclass(frozen=True)
class KeypadHello:
    """The board said hello (power-up or reply to a ping) with its firmware version."""

    version: str


@dataclass(frozen=True)
class KeypadFault:
    """The board reported a fault, e.g. "STUCK3"."""

    text: str


@dataclass(frozen=True)
class KeypadLost:
    """The keypad is unplugged, cannot be opened or has been silent too long."""


@dataclass(frozen=True)
class KeypadFound:
    """The keypad talks again (or for the first time): a valid frame arrived."""


KeypadEvent = KeyPressed | KeyReleased | KeypadHello | KeypadFault | KeypadLost | KeypadFound
