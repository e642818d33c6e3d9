"""Drawing the evaluator's pages with pygame from a plain view of what to show.

No decisions here: the view says which page, case, choices and status marks to draw. Staff
marks (keypad, clock, backlog) appear only on the staff's pages: paused and idle.
"""

from __future__ import annotations

import io
import logging

import pygame
import pygame.freetype
import segno

from device.flow.mode import Mode
from device.flow.rating_flow import Phase
from device.screen.fonts import FontChain
from device.screen.layout import Layout, Rect
from device.screen.rating_pages import draw_rating, draw_reasons, layout_for
from device.screen.texts import Texts
from device.screen.view import ScreenView
from device.screen.widgets import INK, MUTED, WARNING, WHITE, Painter

log = logging.getLogger(__name__)
PANEL = WHITE
AVATAR = (200, 206, 216)
STAFF_PAGES = (Phase.PAUSED, Phase.IDLE)


class Screen:
    def __init__(
        self,
        surface: pygame.Surface,
        font: FontChain,
        texts: Texts,
        large_type: bool = False,
    ) -> None:
        self.surface = surface
        self.texts = texts
        self.base_layout = Layout(surface.get_width(), surface.get_height(), large_type)
        self.paint = Painter(surface, font, self.base_layout)
        self._photo_cache: tuple[bytes, pygame.Surface] | None = None

    @property
    def layout(self) -> Layout:
        """The geometry of the page last drawn (touches are hit-tested against it)."""
        return self.paint.layout

    def draw(self, view: ScreenView) -> None:
        self.paint.layout = layout_for(self.base_layout, self.paint, self.texts, view)
        self.paint.clear()
        if view.phase in STAFF_PAGES:
            self._status_marks(view)
        page = {
            Phase.PAUSED: self._paused,
            Phase.IDLE: self._idle,
            Phase.RATING: self._rating,
            Phase.STORING: self._rating,
            Phase.REASONS: self._reasons,
            Phase.THANKS: self._thanks,
            Phase.RATE_LATER: self._rate_later,
            Phase.OUT_OF_SERVICE: self._out_of_service,
        }[view.phase]
        page(view)

    # -- pages ------------------------------------------------------------------------

    def _paused(self, view: ScreenView) -> None:
        t, layout = self.texts, self.layout
        self.paint.centred(
            [(t.ui("paused_title"), layout.heading), (t.ui("paused_hint"), layout.body)], MUTED
        )

    def _idle(self, view: ScreenView) -> None:
        t, layout = self.texts, self.layout
        if view.mode == Mode.SELF_SERVICE:
            lines = [(t.ui("self_service"), layout.heading), (t.ui("idle_hint"), layout.body)]
            if view.terminal_no:
                lines.append((f"{t.ui('terminal_no')}：{view.terminal_no}", layout.body))
            self.paint.centred(lines, INK)
            return
        m = layout.margin
        left, room = m * 2, layout.width - 4 * m
        if view.staff is not None:
            self._staff_card(view)
            left, room = layout.width // 2 + m, layout.width // 2 - 2 * m
        y = layout.height // 3
        y = self.paint.paragraph(t.ui("idle_title"), (left, y), layout.heading, INK, room)
        self.paint.paragraph(t.ui("idle_hint"), (left, y + m), layout.body, MUTED, room)

    def _staff_card(self, view: ScreenView) -> None:
        assert view.staff is not None
        t, layout = self.texts, self.layout
        m = layout.margin
        top = layout.status_bar[3] + m
        card = pygame.Rect(m, top, layout.width // 2 - 2 * m, layout.height - top - m)
        pygame.draw.rect(self.surface, PANEL, card, border_radius=12)
        lines = [
            (view.staff.name, layout.title, "staff"),
            (f"{t.ui('staff_no')}：{view.staff.number}", layout.body, "staff"),
        ]
        if view.window_no:
            lines.append((f"{t.ui('window_no')}：{view.window_no}", layout.body, "window"))
        if view.hall_code:
            lines.append((f"{t.ui('hall')}：{view.hall_code}", layout.body, "hall"))
        text_h = sum(layout.pitch(size) for _, size, _ in lines)
        box = (card.w * 2 // 3, card.h - text_h - 3 * m)
        photo = self._photo(view.staff.photo, box)
        y = card.y + m
        if photo is not None:
            self.surface.blit(photo, (card.centerx - photo.get_width() // 2, y))
            y += photo.get_height() + m
        else:  # no photo given: a neutral figure, so the card does not look broken
            r = min(box[1] // 5, card.w // 6)
            pygame.draw.circle(self.surface, AVATAR, (card.centerx, y + r), r)
            body = pygame.Rect(0, 0, r * 3, r * 2)
            body.midtop = (card.centerx, y + 2 * r + r // 3)
            pygame.draw.ellipse(self.surface, AVATAR, body)
            y += 4 * r + r // 3 + m
        for text, size, role in lines:
            self.paint.paragraph(
                text, (card.centerx, y), size, INK, card.w - 2 * m, 1, role, anchor="midtop"
            )
            y += layout.pitch(size)

    def _photo(self, data: bytes | None, box: tuple[int, int]) -> pygame.Surface | None:
        if not data:
            return None
        if self._photo_cache is None or self._photo_cache[0] != data:
            try:
                image = pygame.image.load(io.BytesIO(data))
            except pygame.error:
                log.warning("staff photo could not be decoded")
                return None
            scale = min(box[0] / image.get_width(), box[1] / image.get_height())
            size = (int(image.get_width() * scale), int(image.get_height() * scale))
            photo = pygame.transform.smoothscale(image.convert(self.surface), size)
            self._photo_cache = (data, photo)
        return self._photo_cache[1]

    def _rating(self, view: ScreenView) -> None:
        draw_rating(self.paint, self.texts, view)

    def _reasons(self, view: ScreenView) -> None:
        draw_reasons(self.paint, self.texts, view)

    def _thanks(self, view: ScreenView) -> None:
        t, layout = self.texts, self.layout
        lines = [(t.ui("thanks"), layout.heading)]
        if view.chosen is not None:
            lines.append((t.ui("your_rating", level=t.level(view.chosen)), layout.title))
        self.paint.centred(lines, INK)

    def _rate_later(self, view: ScreenView) -> None:
        t, layout = self.texts, self.layout
        qx, qy, side, _ = layout.qr_box
        if view.qr_url:
            self._qr(view.qr_url, (qx, qy, side, side))
        left = qx + side + layout.margin * 2
        width = layout.width - left - layout.margin
        y = self.paint.paragraph(
            t.ui("rate_later_title"), (left, qy + layout.margin), layout.title, INK, width
        )
        y = self.paint.paragraph(
            t.ui("rate_later_hint"), (left, y + layout.gap), layout.body, MUTED, width
        )
        if view.case is not None:
            self.paint.paragraph(
                f"{t.ui('project_no')}：{view.case.project_no}",
                (left, y + layout.gap),
                layout.body,
                INK,
                width,
                role="case_no",
            )

    def _qr(self, url: str, box: Rect) -> None:
        qr = segno.make(url, error="m")
        matrix = [list(row) for row in qr.matrix]
        quiet = 4
        cells = len(matrix) + 2 * quiet
        cell = max(1, box[2] // cells)
        side = cell * cells
        pygame.draw.rect(self.surface, (255, 255, 255), (box[0], box[1], side, side))
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    pygame.draw.rect(
                        self.surface,
                        (0, 0, 0),
                        (box[0] + (c + quiet) * cell, box[1] + (r + quiet) * cell, cell, cell),
                    )

    def _out_of_service(self, view: ScreenView) -> None:
        t, layout = self.texts, self.layout
        lines = [(t.ui("out_of_service"), layout.heading)]
        if view.problem:
            lines.append((t.ui(view.problem), layout.body))
        self.paint.centred(lines, WARNING)

    def _status_marks(self, view: ScreenView) -> None:
        """For staff: where the device is, and what needs their attention (bottom right)."""
        t, layout = self.texts, self.layout
        marks = []
        if view.keypad_connected is False:
            marks.append(t.ui("keypad_lost"))
        if not view.clock_synced:
            marks.append(t.ui("clock_unsynced"))
        if view.backlog:
            marks.append(t.ui("backlog", n=view.backlog))
        m, size = layout.margin, layout.body
        y = layout.height - m - layout.pitch(size)
        for mark in reversed(marks):
            self.paint.text(mark, (layout.width - m, y), size, WARNING, "topright", "mark")
            y -= layout.pitch(size)
        place = view.terminal_no if view.mode == Mode.SELF_SERVICE else view.window_no
        if place:
            key = "terminal_no" if view.mode == Mode.SELF_SERVICE else "window_no"
            self.paint.text(f"{t.ui(key)} {place}", (m, m // 2), size, MUTED, "topleft", "window")
