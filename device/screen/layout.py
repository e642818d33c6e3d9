"""Where things sit on the evaluator's screen, as plain rectangles scaled to any resolution.

Pure, so touch hit-testing and drawing use the very same geometry. Text sizes never shrink
to make content fit: at 800×480 body text is 22 px and button labels 26 px (×1.3 in large
type); what does not fit is wrapped, listed over pages, or spread over pages of rows/tags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from device.flow.reason_keys import TAGS_PER_GROUP
from device.record.rating import Level

Rect = tuple[int, int, int, int]  # x, y, width, height

BUTTON_ORDER = (
    Level.VERY_SATISFIED,
    Level.SATISFIED,
    Level.BASICALLY_SATISFIED,
    Level.DISSATISFIED,
    Level.VERY_DISSATISFIED,
)
TAG_COLUMNS = TAGS_PER_GROUP  # the reasons page shows one group: its tags side by side
REASONS_HINT_LINES = 2  # how to choose by key and by touch, or that a reason is needed
BODY_PX, LABEL_PX, TITLE_PX, HEADING_PX = 22, 26, 28, 36  # at 800×480, normal type
LARGE = 1.3
INFO_LINES_MULTI_ROW = 4  # item/theme name (≤ 2 lines), case number, staff line
LABEL_LINES = 2  # a level label wraps to at most two lines ("非常/不满意", "Very/dissatisfied")


def inside(rect: Rect, x: int, y: int) -> bool:
    rx, ry, rw, rh = rect
    return rx <= x < rx + rw and ry <= y < ry + rh


def pages_of(count: int, per_page: int) -> int:
    return max(1, -(-count // max(1, per_page)))


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    large_type: bool = False
    # chosen per page by the screen from what it shows; touch hit-testing reads the same
    row_label_lines: int = 1  # a row's name (indicator or theme item) wraps to this many
    row_button_lines: int = LABEL_LINES  # lines of a level label on a row's button
    multi_info_lines: int = INFO_LINES_MULTI_ROW  # case lines above the rows
    reasons_header_lines: int = 2  # the reasons page's title wraps to this many

    # -- type sizes -------------------------------------------------------------------

    @property
    def scale(self) -> float:
        return min(self.width / 800, self.height / 480) * (LARGE if self.large_type else 1.0)

    def _px(self, base: int) -> int:
        return max(base, math.ceil(base * self.scale))

    @property
    def body(self) -> int:
        """Every text a rater reads is at least this tall."""
        return self._px(BODY_PX)

    @property
    def label(self) -> int:
        """The five level labels, one size for all."""
        return self._px(LABEL_PX)

    @property
    def title(self) -> int:
        return self._px(TITLE_PX)

    @property
    def heading(self) -> int:
        return self._px(HEADING_PX)

    @property
    def unit(self) -> int:
        return self.body

    @staticmethod
    def pitch(size: int) -> int:
        """Distance from one line of *size* px text to the next."""
        return math.ceil(size * 1.32)

    @property
    def margin(self) -> int:
        return max(8, round(12 * min(self.width / 800, self.height / 480)))

    @property
    def gap(self) -> int:
        return max(6, self.margin * 2 // 3)

    # -- the header: title, seconds and the countdown bar --------------------------------

    @property
    def seconds_box(self) -> Rect:
        w = self.title * 4
        return (self.width - self.margin - w, self.margin, w, self.pitch(self.title))

    def header(self, lines: int = 1) -> Rect:
        w = self.seconds_box[0] - self.gap - self.margin
        return (self.margin, self.margin, w, lines * self.pitch(self.title))

    def countdown_bar(self, header_lines: int = 1) -> Rect:
        _, y, _, h = self.header(header_lines)
        return (self.margin, y + h + self.gap // 2, self.width - 2 * self.margin, self.body // 2)

    def content_top(self, header_lines: int = 1) -> int:
        _, y, _, h = self.countdown_bar(header_lines)
        return y + h + self.gap

    @property
    def status_bar(self) -> Rect:
        """Staff marks on the idle and paused pages."""
        return (0, 0, self.width, self.pitch(self.body) + self.margin)

    # -- a single row of five big buttons ---------------------------------------------

    @property
    def button_height(self) -> int:
        need = 2 * self.margin + self.label * 2 + LABEL_LINES * self.pitch(self.label)
        return max(need, self.height * 17 // 50)

    @property
    def info_box(self) -> Rect:
        """The case's details on the single-row rating page."""
        top = self.content_top()
        bottom = self.height - self.margin - self.button_height - self.gap
        return (self.margin, top, self.width - 2 * self.margin, bottom - top)

    @property
    def info_lines(self) -> int:
        return self.info_box[3] // self.pitch(self.body)

    def buttons(self) -> list[tuple[Level, Rect]]:
        top = self.height - self.margin - self.button_height
        return self._row_of_five(
            self.margin, top, self.width - 2 * self.margin, self.button_height, self.gap
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

    # -- the footer: previous page, page number, next page, submit -------------------------

    @property
    def footer(self) -> Rect:
        h = self.pitch(self.label) + 2 * self.gap
        return (self.margin, self.height - self.margin - h, self.width - 2 * self.margin, h)

    @property
    def footer_slot(self) -> int:
        """The width of the footer's action buttons: a third of the footer."""
        _, _, w, _ = self.footer
        return max((w - 2 * self.gap) // 3, self.label * 5)

    @property
    def submit_button(self) -> Rect:
        x, y, w, h = self.footer
        bw = self.footer_slot
        return (x + w - bw, y, bw, h)

    @property
    def choose_again_button(self) -> Rect:
        """重新选择 on the reasons page: leftmost, like key 1."""
        x, y, _, h = self.footer
        return (x, y, self.footer_slot, h)

    @property
    def next_group_button(self) -> Rect:
        """换一组 on the reasons page: left of 提交, like key 4 left of key 5."""
        x, y, w, h = self.footer
        bw = self.footer_slot
        return (x + w - 2 * bw - self.gap, y, bw, h)

    def badge(self, rect: Rect) -> Rect:
        """The key-number badge at the left of *rect*, its number at the label size."""
        x, y, _, h = rect
        side = min(h - self.gap, self.pitch(self.label) + self.gap // 2)
        return (x + self.gap, y + (h - side) // 2, side, side)

    @property
    def previous_button(self) -> Rect:
        x, y, _, h = self.footer
        return (x, y, self.label * 4, h)

    @property
    def next_button(self) -> Rect:
        x, y, _, h = self.footer
        return (x + self.label * 7 + 2 * self.gap, y, self.label * 4, h)

    @property
    def page_number_box(self) -> Rect:
        x, y, _, h = self.footer
        return (x + self.label * 4 + self.gap, y, self.label * 3, h)

    # -- several rows (indicators, theme items) over pages -------------------------------

    @property
    def rows_area(self) -> Rect:
        top = self.content_top() + self.multi_info_lines * self.pitch(self.body) + self.gap
        bottom = self.footer[1] - self.gap
        return (self.margin, top, self.width - 2 * self.margin, bottom - top)

    @property
    def row_pitch(self) -> int:
        return self.row_label_lines * self.pitch(self.body) + self.row_button_height + self.gap // 2

    @property
    def row_button_height(self) -> int:
        text = self.row_button_lines * self.pitch(self.label) - self.label // 4 + self.gap
        return max(text, self.label * 7 // 4)

    @property
    def rows_per_page(self) -> int:
        return max(1, (self.rows_area[3] + self.gap // 2) // self.row_pitch)

    def row_page_count(self, count: int) -> int:
        return pages_of(count, self.rows_per_page)

    def rows(
        self, names: tuple[str, ...], page: int = 0
    ) -> list[tuple[str, Rect, list[tuple[Level, Rect]]]]:
        """For each row on *page*: its name, its label rectangle and its five buttons."""
        x, y, w, _ = self.rows_area
        per = self.rows_per_page
        out = []
        for i, name in enumerate(names[page * per : (page + 1) * per]):
            top = y + i * self.row_pitch
            label = (x, top, w, self.row_label_lines * self.pitch(self.body))
            buttons = self._row_of_five(x, top + label[3], w, self.row_button_height, self.gap)
            out.append((name, label, buttons))
        return out

    def row_button_at(
        self, names: tuple[str, ...], x: int, y: int, page: int = 0
    ) -> tuple[str, Level] | None:
        for name, _, buttons in self.rows(names, page):
            for level, rect in buttons:
                if inside(rect, x, y):
                    return name, level
        return None

    # -- the reasons page: one group of tags at a time, side by side ----------------------

    @property
    def hint_box(self) -> Rect:
        top = self.content_top(self.reasons_header_lines)
        w = self.width - 2 * self.margin
        return (self.margin, top, w, REASONS_HINT_LINES * self.pitch(self.body))

    @property
    def tags_area(self) -> Rect:
        _, hint_top, _, hint_h = self.hint_box
        top = hint_top + hint_h + self.gap
        bottom = self.footer[1] - self.gap
        return (self.margin, top, self.width - 2 * self.margin, bottom - top)

    @property
    def tag_height(self) -> int:
        return self.tags_area[3]

    @property
    def tags_per_page(self) -> int:
        return TAGS_PER_GROUP

    def tag_page_count(self, count: int) -> int:
        return pages_of(count, self.tags_per_page)

    def tags(self, count: int, page: int = 0) -> list[Rect]:
        """Rectangles of the tags on *page* (the first shown tag is number page × per page)."""
        per = self.tags_per_page
        shown = max(0, min(per, count - page * per))
        x0, top, w_all, _ = self.tags_area
        w = (w_all - (TAG_COLUMNS - 1) * self.gap) // TAG_COLUMNS
        cells = [divmod(i, TAG_COLUMNS) for i in range(shown)]
        h = self.tag_height
        return [(x0 + c * (w + self.gap), top + r * (h + self.gap), w, h) for r, c in cells]

    def tag_at(self, count: int, x: int, y: int, page: int = 0) -> int | None:
        """The index (in the whole list) of the tag at (x, y) on *page*."""
        for i, rect in enumerate(self.tags(count, page)):
            if inside(rect, x, y):
                return page * self.tags_per_page + i
        return None

    # -- the rate-later page --------------------------------------------------------------

    @property
    def qr_box(self) -> Rect:
        side = min(self.height - 2 * self.margin, self.width // 2)
        return (self.margin * 2, self.margin, side, side)
