"""Drawing the evaluator's screens with pygame from a plain view of what to show.

No decisions here: the view says what phase, case and marks to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame
import pygame.freetype

from device.layout import Layout, Rect
from device.rating import Case, Level
from device.rating_flow import Phase
from device.texts import LEVEL_LABELS, UI

BACKGROUND = (246, 247, 250)
INK = (28, 32, 40)
MUTED = (96, 104, 118)
WARNING = (190, 60, 30)
LEVEL_COLOURS: dict[Level, tuple[int, int, int]] = {
    Level.VERY_SATISFIED: (28, 140, 72),
    Level.SATISFIED: (86, 166, 60),
    Level.BASICALLY_SATISFIED: (210, 160, 20),
    Level.DISSATISFIED: (226, 110, 40),
    Level.VERY_DISSATISFIED: (200, 44, 44),
}


@dataclass(frozen=True)
class ScreenView:
    phase: Phase
    case: Case | None = None
    chosen: Level | None = None
    seconds_left: int | None = None
    keypad_connected: bool | None = None  # None: no keypad configured
    clock_synced: bool = True
    window_no: str | None = None
    problem: str | None = None


class Screen:
    def __init__(self, surface: pygame.Surface, font: pygame.freetype.Font) -> None:
        self.surface = surface
        self.font = font
        self.layout = Layout(surface.get_width(), surface.get_height())

    def draw(self, view: ScreenView) -> None:
        self.surface.fill(BACKGROUND)
        self._status_marks(view)
        if view.phase in (Phase.RATING, Phase.STORING) and view.case is not None:
            self._rating(view.case, view.chosen, view.seconds_left)
        elif view.phase is Phase.THANKS:
            self._thanks(view.chosen)
        elif view.phase is Phase.OUT_OF_SERVICE:
            self._centred([UI["out_of_service"], view.problem or ""], WARNING)
        else:
            self._centred([UI["idle_title"], UI["idle_hint"]], INK)

    # -- pieces -----------------------------------------------------------------------

    def _text(
        self, text: str, pos: tuple[int, int], size: int, colour: tuple[int, int, int]
    ) -> Rect:
        rect = self.font.render_to(self.surface, pos, text, colour, size=size)
        return (rect.x, rect.y, rect.w, rect.h)

    def _centred(self, lines: list[str], colour: tuple[int, int, int]) -> None:
        size = self.layout.unit * 2
        y = self.layout.height // 2 - len(lines) * size // 2
        for line in lines:
            if line:
                rect = self.font.get_rect(line, size=size)
                self._text(line, ((self.layout.width - rect.w) // 2, y), size, colour)
            y += int(size * 1.4)
            size = self.layout.unit

    def _status_marks(self, view: ScreenView) -> None:
        marks = []
        if view.keypad_connected is False:
            marks.append(UI["keypad_lost"])
        if not view.clock_synced:
            marks.append(UI["clock_unsynced"])
        x = self.layout.width - 8
        for mark in marks:
            rect = self.font.get_rect(mark, size=self.layout.unit * 2 // 3)
            x -= rect.w + 16
            self._text(mark, (x, 6), self.layout.unit * 2 // 3, WARNING)
        if view.window_no:
            self._text(
                f"{UI['window_no']} {view.window_no}", (8, 6), self.layout.unit * 2 // 3, MUTED
            )

    def _rating(self, case: Case, chosen: Level | None, seconds_left: int | None) -> None:
        x, y, _, _ = self.layout.info_box
        unit = self.layout.unit
        self._text(UI["invite"], (x, y + 4), int(unit * 1.3), INK)
        y += int(unit * 2.2)
        lines = [f"{UI['task_name']}：{case.task_name}", f"{UI['project_no']}：{case.project_no}"]
        if case.terminal_no:
            lines.append(f"{UI['terminal_no']}：{case.terminal_no}")
        elif case.pro_manager_no:
            staff = f"{UI['staff_no']}：{case.pro_manager_no}"
            if case.pro_manager:
                staff += f"    {UI['staff_name']}：{case.pro_manager}"
            lines.append(staff)
        for line in lines:
            self._text(line, (x, y), unit, INK)
            y += int(unit * 1.5)
        if seconds_left is not None:
            tag = f"{seconds_left} {UI['seconds_left']}"
            rect = self.font.get_rect(tag, size=unit)
            self._text(
                tag, (self.layout.width - rect.w - x, self.layout.info_box[1] + 4), unit, MUTED
            )
        for level, rect in self.layout.buttons():
            self._button(level, rect, chosen)

    def _button(self, level: Level, rect: Rect, chosen: Level | None) -> None:
        colour = LEVEL_COLOURS[level]
        if chosen is not None and chosen != level:
            colour = tuple((c + 2 * 220) // 3 for c in colour)
        box = pygame.Rect(rect)
        pygame.draw.rect(self.surface, colour, box, border_radius=box.w // 10)
        if chosen == level:
            pygame.draw.rect(self.surface, INK, box, width=5, border_radius=box.w // 10)
        radius = min(box.w, box.h) // 5
        centre = (box.centerx, box.y + box.h // 3)
        _face(self.surface, centre, radius, level)
        label = LEVEL_LABELS[level]
        size = min(self.layout.unit, int(box.w / (len(label) + 0.5)))
        text = self.font.get_rect(label, size=size)
        self._text(
            label, (box.centerx - text.w // 2, box.y + box.h * 2 // 3), size, (255, 255, 255)
        )

    def _thanks(self, chosen: Level | None) -> None:
        lines = [UI["thanks"]]
        if chosen is not None:
            lines.append(f"{UI['your_rating']}：{LEVEL_LABELS[chosen]}")
        self._centred(lines, INK)


def _face(surface: pygame.Surface, centre: tuple[int, int], radius: int, level: Level) -> None:
    """A face icon, so the meaning never rests on colour alone."""
    white = (255, 255, 255)
    cx, cy = centre
    pygame.draw.circle(surface, white, centre, radius, width=max(2, radius // 8))
    eye = max(2, radius // 7)
    pygame.draw.circle(surface, white, (cx - radius // 3, cy - radius // 4), eye)
    pygame.draw.circle(surface, white, (cx + radius // 3, cy - radius // 4), eye)
    mouth = pygame.Rect(0, 0, radius, radius // 2)
    width = max(2, radius // 8)
    if level == Level.BASICALLY_SATISFIED:
        pygame.draw.line(
            surface,
            white,
            (cx - radius // 3, cy + radius // 3),
            (cx + radius // 3, cy + radius // 3),
            width,
        )
    elif level >= Level.SATISFIED:
        mouth.center = (cx, cy + radius // 6)
        pygame.draw.arc(surface, white, mouth, 3.5, 5.9, width)
    else:
        mouth.center = (cx, cy + radius // 2)
        pygame.draw.arc(surface, white, mouth, 0.4, 2.75, width)
