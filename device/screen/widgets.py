"""Drawing primitives of the evaluator: text that fits, level buttons with face icons (never
colour alone), toggles and action buttons. Text with a glyph the font lacks is logged once.
"""

from __future__ import annotations

import logging
import math

import pygame
import pygame.freetype

from device.record.rating import Level
from device.screen.layout import Rect

log = logging.getLogger(__name__)
BACKGROUND = (246, 247, 250)
INK = (28, 32, 40)
WHITE = (255, 255, 255)
DISABLED = (190, 194, 202)
ACCENT = (20, 90, 170)
LEVEL_COLOURS: dict[Level, tuple[int, int, int]] = {
    Level.VERY_SATISFIED: (28, 140, 72),
    Level.SATISFIED: (86, 166, 60),
    Level.BASICALLY_SATISFIED: (196, 146, 10),
    Level.DISSATISFIED: (226, 110, 40),
    Level.VERY_DISSATISFIED: (200, 44, 44),
}
Colour = tuple[int, int, int]


class Painter:
    def __init__(self, surface: pygame.Surface, font: pygame.freetype.Font) -> None:
        self.surface = surface
        self.font = font
        self._warned: set[str] = set()

    def clear(self) -> None:
        self.surface.fill(BACKGROUND)

    def check_glyphs(self, text: str) -> None:
        chars = [c for c in text if not c.isspace() and c not in self._warned]
        if not chars:
            return
        metrics = self.font.get_metrics("".join(chars), size=16)
        for char, metric in zip(chars, metrics, strict=True):
            if metric is None:
                self._warned.add(char)
                log.warning("font has no glyph for U+%04X in text from a case", ord(char))

    def text(
        self,
        text: str,
        pos: tuple[int, int],
        size: int,
        colour: Colour,
        anchor: str = "center",
        max_width: int | None = None,
    ) -> Rect:
        """Draw *text* anchored at *pos*, shrunk to fit max_width; returns the drawn rect."""
        self.check_glyphs(text)
        rect = self.font.get_rect(text, size=size)
        if max_width is not None and rect.w > max_width and rect.w > 0:
            size = max(10, int(size * max_width / rect.w))
            rect = self.font.get_rect(text, size=size)
        box = pygame.Rect(0, 0, rect.w, rect.h)
        setattr(box, anchor, pos)
        drawn = self.font.render_to(self.surface, box.topleft, text, colour, size=size)
        return (drawn.x, drawn.y, drawn.w, drawn.h)

    def centred(self, lines: list[str], colour: Colour, first_size: int) -> None:
        width, height = self.surface.get_size()
        size = first_size
        y = height // 2 - len(lines) * first_size * 3 // 4
        for line in lines:
            if line:
                self.text(
                    line, (width // 2, y), size, colour, anchor="midtop", max_width=width - 40
                )
            y += int(size * 1.5)
            size = max(first_size // 2, 18)

    def paragraph(
        self, text: str, pos: tuple[int, int], size: int, colour: Colour, width: int
    ) -> int:
        """Wrap by character (Chinese has no spaces) into lines of at most *width* pixels;
        returns the y just below the last line."""
        x, y = pos
        line = ""
        for char in text:
            if self.font.get_rect(line + char, size=size).w > width and line:
                self.text(line, (x, y), size, colour, anchor="topleft")
                y += int(size * 1.4)
                line = ""
            line += char
        if line:
            self.text(line, (x, y), size, colour, anchor="topleft")
            y += int(size * 1.4)
        return y

    def level_button(
        self, level: Level, label: str, rect: Rect, chosen: Level | None, big: bool = False
    ) -> None:
        colour: tuple[int, ...] = LEVEL_COLOURS[level]
        if chosen is not None and chosen != level:
            colour = tuple((c + 2 * 225) // 3 for c in colour)
        box = pygame.Rect(rect)
        radius = max(6, box.w // 10)
        pygame.draw.rect(self.surface, colour, box, border_radius=radius)
        if chosen == level:
            pygame.draw.rect(
                self.surface, INK, box, width=max(3, box.w // 30), border_radius=radius
            )
        if big:
            face_radius = min(box.w, box.h) // 5
            draw_face(self.surface, (box.centerx, box.y + box.h // 3), face_radius, level)
            size = min(int(box.w / 5.4), box.h // 6)  # one size for all five labels
            self.text(
                label, (box.centerx, box.y + box.h * 2 // 3), size, WHITE, max_width=box.w - 8
            )
        else:
            face_radius = min(box.h // 3, box.w // 6)
            draw_face(self.surface, (box.x + face_radius + 6, box.centery), face_radius, level)
            left = box.x + 2 * face_radius + 10
            self.text(
                label,
                (left + (box.right - left) // 2, box.centery),
                box.h // 3,
                WHITE,
                max_width=box.right - left - 4,
            )

    def action_button(self, label: str, rect: Rect, enabled: bool) -> None:
        box = pygame.Rect(rect)
        pygame.draw.rect(self.surface, ACCENT if enabled else DISABLED, box, border_radius=12)
        self.text(label, box.center, box.h * 2 // 5, WHITE, max_width=box.w - 12)

    def toggle(self, label: str, rect: Rect, selected: bool) -> None:
        box = pygame.Rect(rect)
        pygame.draw.rect(self.surface, ACCENT if selected else WHITE, box, border_radius=10)
        pygame.draw.rect(self.surface, ACCENT, box, width=3, border_radius=10)
        mark = "✓ " if selected else ""
        self.text(
            mark + label,
            box.center,
            box.h * 2 // 5,
            WHITE if selected else INK,
            max_width=box.w - 12,
        )


def draw_face(surface: pygame.Surface, centre: tuple[int, int], radius: int, level: Level) -> None:
    """A face icon: smile for satisfied, straight for basic, frown for dissatisfied."""
    cx, cy = centre
    width = max(2, radius // 8)
    pygame.draw.circle(surface, WHITE, centre, radius, width=width)
    eye = max(2, radius // 7)
    pygame.draw.circle(surface, WHITE, (cx - radius // 3, cy - radius // 4), eye)
    pygame.draw.circle(surface, WHITE, (cx + radius // 3, cy - radius // 4), eye)
    mouth = pygame.Rect(0, 0, radius, max(4, radius // 2))
    if level == Level.BASICALLY_SATISFIED:
        pygame.draw.line(
            surface,
            WHITE,
            (cx - radius // 3, cy + radius // 3),
            (cx + radius // 3, cy + radius // 3),
            width,
        )
    elif level == Level.SATISFIED:
        mouth.center = (cx, cy + radius // 6)
        pygame.draw.arc(surface, WHITE, mouth, 3.5, 5.9, width)
    elif level == Level.VERY_SATISFIED:  # an open, laughing mouth
        half = radius // 2
        points = [
            (
                cx + half * math.cos(a / 10 * math.pi),
                cy + radius // 8 + half * math.sin(a / 10 * math.pi),
            )
            for a in range(11)
        ]
        pygame.draw.polygon(surface, WHITE, points)
    else:
        mouth.center = (cx, cy + radius // 2)
        pygame.draw.arc(surface, WHITE, mouth, 0.4, 2.75, width)
        if level == Level.VERY_DISSATISFIED:
            pygame.draw.line(
                surface,
                WHITE,
                (cx - radius // 2, cy - radius // 2),
                (cx - radius // 6, cy - radius // 3),
                width,
            )
            pygame.draw.line(
                surface,
                WHITE,
                (cx + radius // 2, cy - radius // 2),
                (cx + radius // 6, cy - radius // 3),
                width,
            )
