"""Contrast between a text colour and what is behind it, by the WCAG 2 relative luminance
formula: every text on the evaluator's pages must reach 4.5:1."""

from __future__ import annotations

Colour = tuple[int, int, int]
MINIMUM = 4.5


def luminance(colour: Colour) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: Colour, b: Colour) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
