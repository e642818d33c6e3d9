"""Where the rater sees the flow, as the main loop knows it: the pygame window beside the
counter, or the rating page a self-service terminal's browser opens. No pygame here.

The window hands its own input (keys, taps) back as typed inputs; the browser's presses come
through the local API as inbox messages instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from device.flow.presenter import Touch
from device.flow.rating_flow import RatingFlow
from device.record.tag_catalog import Tag
from device.screen.view import ScreenView


@dataclass(frozen=True)
class Closed:
    """The window was closed (the simulator's desktop): the program stops."""


@dataclass(frozen=True)
class DesktopKey:
    """A number key 1–5 on a desktop keyboard: the keypad's key of that number."""

    key: int


@dataclass(frozen=True)
class TapAt:
    """A tap (or mouse click) at a point of the upright page."""

    x: int
    y: int


@dataclass(frozen=True)
class Exposed:
    """The window was uncovered: draw again."""


GlassInput = Closed | DesktopKey | TapAt | Exposed


class Glass(Protocol):
    """What the main loop needs of a front end."""

    def show(self, view: ScreenView) -> None:
        """Put the page *view* describes in front of the rater."""
        ...

    def inputs(self) -> list[GlassInput]:
        """What the rater did on this front end since the last call (never blocks)."""
        ...

    def touch_meaning(
        self, flow: RatingFlow, offered: tuple[Tag, ...], x: int, y: int
    ) -> Touch | None:
        """What a tap at (x, y) of the page last shown meant."""
        ...

    @property
    def missing_glyphs(self) -> int:
        """Characters of cases drawn as the placeholder since start."""
        ...

    def check_glyphs(self, text: str) -> None:
        """Log characters of *text* (a new tag list) the front end cannot draw."""
        ...
