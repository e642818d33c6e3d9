"""Where things sit on the evaluator's screen, as plain rectangles scaled to any resolution.

Pure, so touch hit-testing and drawing use the very same geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.rating import Level

Rect = tuple[int, int, int, int]  # x, y, width, height

BUTTON_ORDER = (
    Level.VERY_SATISFIED,
    Level.SATISFIED,
    Level.BASICALLY_SATISFIED,
    Level.DISSATISFIED,
    Level.VERY_DISSATISFIED,
)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int

    @property
    def unit(self) -> int:
        """Base text size: large type for elderly raters, scaled with the screen."""
        return max(18, min(self.width // 28, self.height // 15))

    @property
    def status_bar(self) -> Rect:
        return (0, 0, self.width, self.unit + 12)

    @property
    def info_box(self) -> Rect:
        top = self.status_bar[3]
        return (self.width // 30, top, self.width - self.width // 15, int(self.height * 0.36))

    def buttons(self) -> list[tuple[Level, Rect]]:
        margin = self.width // 40
        gap = self.width // 60
        top = self.info_box[1] + self.info_box[3] + gap
        height = self.height - top - margin
        width = (self.width - 2 * margin - 4 * gap) // 5
        return [
            (level, (margin + i * (width + gap), top, width, height))
            for i, level in enumerate(BUTTON_ORDER)
        ]

    def button_at(self, x: int, y: int) -> Level | None:
        for level, (bx, by, bw, bh) in self.buttons():
            if bx <= x < bx + bw and by <= y < by + bh:
                return level
        return None
