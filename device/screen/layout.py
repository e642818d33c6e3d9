"""Where things sit on the evaluator's screen, as plain rectangles scaled to any resolution.

Pure, so touch hit-testing and drawing use the very same geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.record.rating import Level

Rect = tuple[int, int, int, int]  # x, y, width, height

BUTTON_ORDER = (
    Level.VERY_SATISFIED,
    Level.SATISFIED,
    Level.BASICALLY_SATISFIED,
    Level.DISSATISFIED,
    Level.VERY_DISSATISFIED,
)
TAG_COLUMNS = 3
MAX_TAGS = 12


def inside(rect: Rect, x: int, y: int) -> bool:
    rx, ry, rw, rh = rect
    return rx <= x < rx + rw and ry <= y < ry + rh


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    large_type: bool = False

    @property
    def unit(self) -> int:
        """Base text size: large for elderly raters, scaled with the screen."""
        base = max(18, min(self.width // 28, self.height // 15))
        return int(base * 1.2) if self.large_type else base

    @property
    def margin(self) -> int:
        return self.width // 40

    @property
    def status_bar(self) -> Rect:
        return (0, 0, self.width, self.unit + 12)

    @property
    def info_box(self) -> Rect:
        top = self.status_bar[3]
        return (self.margin, top, self.width - 2 * self.margin, int(self.height * 0.36))

    # -- a single row of five big buttons ---------------------------------------------

    def buttons(self) -> list[tuple[Level, Rect]]:
        gap = self.width // 60
        top = self.info_box[1] + self.info_box[3] + gap
        return self._row_of_five(
            self.margin, top, self.width - 2 * self.margin, self.height - top - self.margin, gap
        )

    def button_at(self, x: int, y: int) -> Level | None:
        return next((level for level, rect in self.buttons() if inside(rect, x, y)), None)

    def _row_of_five(
        self, left: int, top: int, width: int, height: int, gap: int
    ) -> list[tuple[Level, Rect]]:
        each = (width - 4 * gap) // 5
        return [
            (level, (left + i * (each + gap), top, each, height))
            for i, level in enumerate(BUTTON_ORDER)
        ]

    # -- several rows (indicators, theme items) with a submit button ------------------

    @property
    def rows_area(self) -> Rect:
        top = self.status_bar[3] + int(self.unit * 4.0)
        bottom = self.height - self.margin - self.submit_button[3] - self.margin // 2
        return (self.margin, top, self.width - 2 * self.margin, bottom - top)

    @property
    def row_label_width(self) -> int:
        return self.width // 4

    def rows(self, names: tuple[str, ...]) -> list[tuple[str, Rect, list[tuple[Level, Rect]]]]:
        """For each row: its name, its label rectangle and its five buttons."""
        x, y, w, h = self.rows_area
        pitch = h // max(1, len(names))
        height = min(pitch - 6, int(self.unit * 2.6))
        out = []
        for i, name in enumerate(names):
            top = y + i * pitch
            label = (x, top, self.row_label_width, height)
            left = x + self.row_label_width
            out.append(
                (name, label, self._row_of_five(left, top, w - self.row_label_width, height, 6))
            )
        return out

    def row_button_at(self, names: tuple[str, ...], x: int, y: int) -> tuple[str, Level] | None:
        for name, _, buttons in self.rows(names):
            for level, rect in buttons:
                if inside(rect, x, y):
                    return name, level
        return None

    @property
    def submit_button(self) -> Rect:
        w, h = self.width // 4, int(self.unit * 2.4)
        return (self.width - self.margin - w, self.height - self.margin - h, w, h)

    # -- the reasons page: a grid of tags -----------------------------------------------

    def tags(self, count: int) -> list[Rect]:
        count = min(count, MAX_TAGS)
        top = self.status_bar[3] + int(self.unit * 4.2)
        bottom = self.submit_button[1] - self.margin // 2
        rows = max(1, -(-count // TAG_COLUMNS))
        gap = self.margin // 2
        w = (self.width - 2 * self.margin - (TAG_COLUMNS - 1) * gap) // TAG_COLUMNS
        h = min((bottom - top - (rows - 1) * gap) // rows, int(self.unit * 2.8))
        cells = [divmod(i, TAG_COLUMNS) for i in range(count)]
        return [(self.margin + c * (w + gap), top + r * (h + gap), w, h) for r, c in cells]

    def tag_at(self, count: int, x: int, y: int) -> int | None:
        return next((i for i, rect in enumerate(self.tags(count)) if inside(rect, x, y)), None)

    # -- the rate-later page --------------------------------------------------------------

    @property
    def qr_box(self) -> Rect:
        side = min(self.height - self.status_bar[3] - 2 * self.margin, self.width // 2)
        return (self.margin * 2, self.status_bar[3] + self.margin, side, side)
