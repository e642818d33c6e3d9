"""The evaluator's colours, shared by the pygame window and the rating page in a browser, so
both show each level in the same colour. Pure: no pygame here.
"""

from __future__ import annotations

from device.record.rating import Level
from device.screen.contrast import Colour

BACKGROUND = (246, 247, 250)
INK = (28, 32, 40)
MUTED = (86, 94, 108)
WHITE = (255, 255, 255)
DISABLED = (200, 204, 212)
DISABLED_INK = (60, 64, 72)
ACCENT = (20, 90, 170)
WARNING = (176, 52, 24)
TRACK = (214, 219, 228)
# Green to red, each dark enough for white text at ≥ 4.5:1 (WCAG).
LEVEL_COLOURS: dict[Level, Colour] = {
    Level.VERY_SATISFIED: (20, 112, 58),
    Level.SATISFIED: (62, 112, 30),
    Level.BASICALLY_SATISFIED: (135, 95, 0),
    Level.DISSATISFIED: (176, 72, 16),
    Level.VERY_DISSATISFIED: (180, 32, 32),
}


def dimmed(colour: Colour) -> Colour:
    """A level not chosen, once another is: its colour faded towards grey (ink on it)."""
    r, g, b = colour
    return ((r + 2 * 225) // 3, (g + 2 * 225) // 3, (b + 2 * 225) // 3)


def hex_of(colour: Colour) -> str:
    """`#rrggbb`, as a style sheet writes it."""
    return "#{:02x}{:02x}{:02x}".format(*colour)
