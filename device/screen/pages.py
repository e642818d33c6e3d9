"""Drawing the evaluator's pages with pygame from a plain view of what to show.

No decisions here: the view says which page, case, choices and status marks to draw.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import pygame
import pygame.freetype
import segno

from device.flow.mode import Mode
from device.flow.rating_flow import OVERALL, Phase, Problem
from device.record.rating import Case, Level, Staff
from device.record.tag_catalog import Tag
from device.screen.layout import Layout, Rect
from device.screen.texts import Texts
from device.screen.widgets import ACCENT, INK, WHITE, Painter

log = logging.getLogger(__name__)
MUTED = (96, 104, 118)
WARNING = (190, 60, 30)
PANEL = WHITE
AVATAR = (200, 206, 216)


@dataclass(frozen=True)
class ScreenView:
    phase: Phase
    mode: Mode = Mode.WINDOW
    case: Case | None = None
    rows: tuple[str, ...] = (OVERALL,)
    levels: dict[str, Level] = field(default_factory=dict)
    focus_row: str | None = None
    chosen: Level | None = None
    tags: tuple[Tag, ...] = ()  # offered on the reasons page
    selected_tags: tuple[str, ...] = ()
    seconds_left: int | None = None
    staff: Staff | None = None
    keypad_connected: bool | None = None  # None: no keypad configured
    clock_synced: bool = True
    backlog: int | None = None  # shown when delivery seems stuck
    window_no: str | None = None
    hall_code: str | None = None
    terminal_no: str | None = None
    problem: Problem | None = None  # its words are looked up where the page is drawn
    qr_url: str | None = None


class Screen:
    def __init__(
        self,
        surface: pygame.Surface,
        font: pygame.freetype.Font,
        texts: Texts,
        large_type: bool = False,
    ) -> None:
        self.surface = surface
        self.texts = texts
        self.layout = Layout(surface.get_width(), surface.get_height(), large_type)
        self.paint = Painter(surface, font)
        self._photo_cache: tuple[bytes, pygame.Surface] | None = None

    def draw(self, view: ScreenView) -> None:
        self.paint.clear()
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
        t = self.texts
        self.paint.centred([t.ui("paused_title"), t.ui("paused_hint")], MUTED, self.layout.unit * 2)

    def _idle(self, view: ScreenView) -> None:
        t, unit = self.texts, self.layout.unit
        if view.mode == Mode.SELF_SERVICE:
            lines = [t.ui("self_service"), t.ui("idle_hint")]
            if view.terminal_no:
                lines.append(f"{t.ui('terminal_no')}：{view.terminal_no}")
            self.paint.centred(lines, INK, unit * 2)
            return
        centre, room = self.layout.width // 2, self.layout.width - 2 * self.layout.margin
        if view.staff is not None:
            self._staff_card(view)
            centre, room = (
                self.layout.width * 3 // 4,
                self.layout.width // 2 - 2 * self.layout.margin,
            )
        top = self.layout.height // 3
        self.paint.text(t.ui("idle_title"), (centre, top), unit * 2, INK, max_width=room)
        self.paint.text(t.ui("idle_hint"), (centre, top + unit * 3), unit, MUTED, max_width=room)

    def _staff_card(self, view: ScreenView) -> None:
        assert view.staff is not None
        t, unit, m = self.texts, self.layout.unit, self.layout.margin
        card = pygame.Rect(
            m,
            self.layout.status_bar[3] + m,
            self.layout.width // 2 - 2 * m,
            self.layout.height - self.layout.status_bar[3] - 3 * m,
        )
        pygame.draw.rect(self.surface, PANEL, card, border_radius=12)
        photo = self._photo(view.staff.photo, (card.w * 2 // 3, card.h // 3))
        y = card.y + m
        if photo is not None:
            self.surface.blit(photo, (card.centerx - photo.get_width() // 2, y))
            y += photo.get_height() + m
        else:  # no photo given: a neutral figure, so the card does not look broken
            r = card.h // 14
            pygame.draw.circle(self.surface, AVATAR, (card.centerx, y + r), r)
            body = pygame.Rect(0, 0, r * 3, r * 2)
            body.midtop = (card.centerx, y + 2 * r + r // 3)
            pygame.draw.ellipse(self.surface, AVATAR, body)
            y += 4 * r + r // 3 + m
        lines = [
            (view.staff.name, int(unit * 1.5)),
            (f"{t.ui('staff_no')}：{view.staff.number}", unit),
        ]
        if view.window_no:
            lines.append((f"{t.ui('window_no')}：{view.window_no}", unit))
        if view.hall_code:
            lines.append((f"{t.ui('hall')}：{view.hall_code}", unit))
        for text, size in lines:
            self.paint.text(text, (card.centerx, y), size, INK, anchor="midtop")
            y += int(size * 1.6)

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
            self._photo_cache = (data, pygame.transform.smoothscale(image.convert(), size))
        return self._photo_cache[1]

    def _rating(self, view: ScreenView) -> None:
        case = view.case
        if case is None:
            return
        t, unit = self.texts, self.layout.unit
        x, y, w, _ = self.layout.info_box
        invite = t.ui("invite_intake" if case.intake_only else "invite")
        self.paint.text(invite, (x, y + 4), int(unit * 1.3), INK, anchor="topleft")
        if view.seconds_left is not None:
            self.paint.text(
                t.ui("seconds_left", n=view.seconds_left),
                (x + w, y + 4),
                unit,
                MUTED,
                anchor="topright",
            )
        lines = self._case_lines(view, case)
        if len(view.rows) > 1:
            lines = lines[:1]  # the rows need the room
        y += int(unit * 2.2)
        for line in lines:
            self.paint.text(line, (x, y), unit, INK, anchor="topleft", max_width=w)
            y += int(unit * 1.45)
        if len(view.rows) == 1:
            for level, rect in self.layout.buttons():
                self.paint.level_button(level, t.level(level), rect, view.chosen, big=True)
        else:
            self._rows(view)

    def _case_lines(self, view: ScreenView, case: Case) -> list[str]:
        t = self.texts
        lines = [f"{t.ui('task_name')}：{case.task_name}"]
        if case.theme is not None:
            lines[0] = f"{t.ui('theme')}：{case.theme.theme_name}"
        if case.batch_project_nos:
            shown = "、".join(case.batch_project_nos[:3])
            more = "…" if len(case.batch_project_nos) > 3 else ""
            lines.append(f"{t.ui('batch', n=len(case.batch_project_nos))}：{shown}{more}")
        else:
            lines.append(f"{t.ui('project_no')}：{case.project_no}")
        terminal = case.terminal_no or view.terminal_no
        if view.mode == Mode.SELF_SERVICE and terminal:
            lines.append(f"{t.ui('terminal_no')}：{terminal}")
        elif case.pro_manager_no:
            staff = f"{t.ui('staff_no')}：{case.pro_manager_no}"
            if case.pro_manager:
                staff += f"    {t.ui('staff_name')}：{case.pro_manager}"
            lines.append(staff)
        return lines

    def _rows(self, view: ScreenView) -> None:
        t, unit = self.texts, self.layout.unit
        case = view.case
        assert case is not None
        for name, label_rect, buttons in self.layout.rows(view.rows):
            if name.startswith("item:") and case.theme is not None:
                label = case.theme.items[int(name[5:])].task_name
            else:
                label = t.ui(name)
            colour = ACCENT if name == view.focus_row else INK
            lx, ly, lw, lh = label_rect
            self.paint.text(
                label,
                (lx, ly + lh // 2),
                int(unit * 0.9),
                colour,
                anchor="midleft",
                max_width=lw - 8,
            )
            for level, rect in buttons:
                self.paint.level_button(level, t.level(level), rect, view.levels.get(name))
        ready = OVERALL in view.levels
        self.paint.action_button(t.ui("submit"), self.layout.submit_button, enabled=ready)

    def _reasons(self, view: ScreenView) -> None:
        t, unit = self.texts, self.layout.unit
        x, y, w, _ = self.layout.info_box
        level = t.level(view.chosen) if view.chosen is not None else ""
        self.paint.text(
            t.ui("reasons_title", level=level),
            (x, y + 4),
            int(unit * 1.1),
            INK,
            anchor="topleft",
            max_width=w,
        )
        self.paint.text(
            t.ui("reasons_hint"), (x, y + int(unit * 2.2)), unit, MUTED, anchor="topleft"
        )
        if view.seconds_left is not None:
            self.paint.text(
                t.ui("seconds_left", n=view.seconds_left),
                (x + w, y + int(unit * 2.2)),
                unit,
                MUTED,
                anchor="topright",
            )
        for tag, rect in zip(view.tags, self.layout.tags(len(view.tags)), strict=False):
            self.paint.toggle(tag.label, rect, tag.code in view.selected_tags)
        self.paint.action_button(
            t.ui("submit"), self.layout.submit_button, enabled=bool(view.selected_tags)
        )

    def _thanks(self, view: ScreenView) -> None:
        t = self.texts
        lines = [t.ui("thanks")]
        if view.chosen is not None:
            lines.append(t.ui("your_rating", level=t.level(view.chosen)))
        self.paint.centred(lines, INK, self.layout.unit * 2)

    def _rate_later(self, view: ScreenView) -> None:
        t, unit = self.texts, self.layout.unit
        qx, qy, side, _ = self.layout.qr_box
        if view.qr_url:
            self._qr(view.qr_url, (qx, qy, side, side))
        left = qx + side + self.layout.margin * 2
        width = self.layout.width - left - self.layout.margin
        self.paint.text(
            t.ui("rate_later_title"),
            (left, qy + unit),
            int(unit * 1.6),
            INK,
            anchor="topleft",
            max_width=width,
        )
        y = self.paint.paragraph(t.ui("rate_later_hint"), (left, qy + unit * 4), unit, MUTED, width)
        if view.case is not None:
            self.paint.text(
                f"{t.ui('project_no')}：{view.case.project_no}",
                (left, y + unit // 2),
                unit,
                INK,
                anchor="topleft",
                max_width=width,
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
        t = self.texts
        lines = [t.ui("out_of_service")]
        if view.problem:
            lines.append(t.ui(view.problem))
        self.paint.centred(lines, WARNING, self.layout.unit * 2)

    def _status_marks(self, view: ScreenView) -> None:
        t = self.texts
        marks = []
        if view.keypad_connected is False:
            marks.append(t.ui("keypad_lost"))
        if not view.clock_synced:
            marks.append(t.ui("clock_unsynced"))
        if view.backlog:
            marks.append(t.ui("backlog", n=view.backlog))
        size = self.layout.unit * 2 // 3
        x = self.layout.width - 8
        for mark in reversed(marks):
            x = self.paint.text(mark, (x, 6), size, WARNING, anchor="topright")[0] - 16
        place = view.terminal_no if view.mode == Mode.SELF_SERVICE else view.window_no
        if place:
            key = "terminal_no" if view.mode == Mode.SELF_SERVICE else "window_no"
            self.paint.text(f"{t.ui(key)} {place}", (8, 6), size, MUTED, anchor="topleft")
