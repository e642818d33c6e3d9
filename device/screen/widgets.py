"""Drawing primitives of the evaluator: wrapped text at a fixed size, level buttons with face
icons (never colour alone), toggles and action buttons. Every text drawn is recorded (rect,
size, colours behind it) so a test can check the page from its own layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pygame

from device.record.rating import Level
from device.screen.contrast import Colour
from device.screen.fonts import BREAK, SOFT_HYPHEN, FontChain
from device.screen.layout import Layout, Rect
from device.screen.palette import (  # noqa: F401 (the page modules take them from here)
    ACCENT,
    BACKGROUND,
    DISABLED,
    DISABLED_INK,
    INK,
    LEVEL_COLOURS,
    MUTED,
    TRACK,
    WARNING,
    WHITE,
    dimmed,
)

_NO_BREAK_BEFORE = set("，。、；：？！）」』”’》〉…,.;:?!)%")


@dataclass(frozen=True)
class DrawnText:
    """One text as drawn: what, where, how big, in which colour, over which colours."""

    text: str
    rect: Rect
    size: int
    fg: Colour
    bg: tuple[Colour, ...]
    role: str = ""  # what it shows, for the checks: "case_no", "staff", "level", …
    box: Rect | None = None  # the shape it must stay inside (a button), None: the page


def _units(text: str) -> list[str]:
    """Breakable pieces: each CJK character, each Latin word with its following space, and
    the halves of a word at a soft hyphen (the first half keeping the hyphen mark)."""
    if BREAK in text:  # breaks only where marked
        return [part + BREAK for part in text.split(BREAK)]
    units: list[str] = []
    word = ""
    for char in text:
        if char == " ":
            units.append(word + " ")
            word = ""
        elif char == SOFT_HYPHEN:
            units.append(word + SOFT_HYPHEN)
            word = ""
        elif ord(char) >= 0x2E80:  # CJK and full-width forms: break anywhere
            if word:
                units.append(word)
                word = ""
            units.append(char)
        else:
            word += char
    if word:
        units.append(word)
    return units


class Painter:
    def __init__(self, surface: pygame.Surface, font: FontChain, layout: Layout) -> None:
        self.surface = surface
        self.font = font
        self.layout = layout
        self.drawn: list[DrawnText] = []

    @property
    def missing(self) -> int:
        """How many distinct characters were drawn as the placeholder so far."""
        return len(self.font.missing)

    def clear(self) -> None:
        self.surface.fill(BACKGROUND)
        self.drawn = []

    def check_glyphs(self, text: str) -> None:
        self.font.runs(text)

    def width(self, text: str, size: int) -> int:
        return self.font.width(self._shown(text), size)

    @staticmethod
    def _shown(line: str) -> str:
        """A wrapped line as drawn: a soft hyphen ending it shows as "-", others vanish."""
        if line.endswith(SOFT_HYPHEN):
            line = line[:-1] + "-"
        return line.replace(SOFT_HYPHEN, "").replace(BREAK, "").rstrip(" ")

    def wrap(self, text: str, size: int, width: int, max_lines: int = 99) -> list[str]:
        """*text* in lines of at most *width* px at *size*; the last allowed line ends in …
        if the text is longer still."""
        lines: list[str] = []
        line = ""
        for piece in _units(text):
            unit = piece
            if line and self.width(line + unit, size) > width:
                if unit[0] in _NO_BREAK_BEFORE and len(line) > 1 and ord(line[-1]) >= 0x2E80:
                    lines.append(line[:-1])
                    line = line[-1]
                else:
                    lines.append(line)
                    line = ""
            while self.width(line + unit, size) > width and len(unit) > 1 and not line:
                cut = len(unit) - 1  # a single word wider than the line: break it
                while cut > 1 and self.width(unit[:cut], size) > width:
                    cut -= 1
                lines.append(unit[:cut])
                unit = unit[cut:]
            line += unit
        if line:
            lines.append(line)
        lines = [self._shown(x) for x in lines] or [""]
        if len(lines) > max_lines:
            last = lines[max_lines - 1]
            while last and self.width(last + "…", size) > width:
                last = last[:-1]
            lines = [*lines[: max_lines - 1], last + "…"]
        return lines

    def text(
        self,
        text: str,
        pos: tuple[int, int],
        size: int,
        colour: Colour,
        anchor: str = "center",
        role: str = "",
        box: Rect | None = None,
    ) -> Rect:
        """Draw one line of *text* at its size (never shrunk) anchored at *pos*."""
        shown = self._shown(text)
        place = pygame.Rect(0, 0, self.font.width(shown, size), self.font.line_height(size))
        setattr(place, anchor, pos)
        behind = self._behind(place)
        drawn = self.font.render_to(self.surface, place.topleft, shown, colour, size)
        rect = (drawn.x, drawn.y, drawn.w, drawn.h)
        as_drawn = "".join(run for _, run in self.font.runs(shown))  # with 〓 where no glyph
        self.drawn.append(DrawnText(as_drawn, rect, size, colour, behind, role, box))
        return rect

    def _behind(self, place: pygame.Rect) -> tuple[Colour, ...]:
        clip = place.clip(self.surface.get_rect())
        if clip.w < 2 or clip.h < 2:
            return ()
        found: list[Colour] = []
        for fx in (0.1, 0.3, 0.5, 0.7, 0.9):
            for fy in (0.2, 0.5, 0.8):
                x, y = clip.x + int(clip.w * fx), clip.y + int(clip.h * fy)
                r, g, b, _ = self.surface.get_at((x, y))
                if (r, g, b) not in found:
                    found.append((r, g, b))
        return tuple(found)

    def paragraph(
        self,
        text: str,
        pos: tuple[int, int],
        size: int,
        colour: Colour,
        width: int,
        max_lines: int = 99,
        role: str = "",
        anchor: str = "topleft",
    ) -> int:
        """Wrapped lines from *pos* down; returns the y below the last line."""
        x, y = pos
        for line in self.wrap(text, size, width, max_lines):
            self.text(line, (x, y), size, colour, anchor=anchor, role=role)
            y += self.layout.pitch(size)
        return y

    def centred(self, lines: list[tuple[str, int]], colour: Colour, top: int | None = None) -> None:
        """Lines (text, size) wrapped and centred on the page."""
        width, height = self.surface.get_size()
        room = width - 4 * self.layout.margin
        wrapped = [(part, size) for text, size in lines for part in self.wrap(text, size, room)]
        total = sum(self.layout.pitch(size) for _, size in wrapped)
        y = (height - total) // 2 if top is None else top
        for part, size in wrapped:
            self.text(part, (width // 2, y), size, colour, anchor="midtop")
            y += self.layout.pitch(size)

    def level_button(
        self,
        level: Level,
        label: str,
        rect: Rect,
        chosen: Level | None,
        size: int,
        face: bool = True,
    ) -> None:
        colour = LEVEL_COLOURS[level]
        ink = WHITE
        if chosen is not None and chosen != level:
            colour, ink = dimmed(colour), INK
        box = pygame.Rect(rect)
        radius = max(6, min(box.w, box.h) // 8)
        pygame.draw.rect(self.surface, colour, box, border_radius=radius)
        if chosen == level:
            pygame.draw.rect(
                self.surface, INK, box, width=max(4, box.w // 28), border_radius=radius
            )
        pad = max(6, box.w // 20)
        lines = self.wrap(label, size, box.w - 2 * pad, max_lines=3)
        pitch = self.layout.pitch(size)
        block = len(lines) * pitch
        y = box.y + (box.h - block) // 2
        if face:
            face_radius = min(box.w // 5, (box.h - block - 3 * pad) // 2)
            if face_radius >= 8:
                free = box.h - block - 2 * face_radius
                top = box.y + free // 3
                draw_face(self.surface, (box.centerx, top + face_radius), face_radius, level, ink)
                y = top + 2 * face_radius + free // 3
        for line in lines:
            self.text(line, (box.centerx, y), size, ink, anchor="midtop", role="level", box=rect)
            y += pitch

    def action_button(
        self, label: str, rect: Rect, enabled: bool, size: int, key: int | None = None
    ) -> None:
        """A button; with *key*, the number of the physical key that does the same."""
        box = pygame.Rect(rect)
        pygame.draw.rect(self.surface, ACCENT if enabled else DISABLED, box, border_radius=12)
        ink = WHITE if enabled else DISABLED_INK
        if key is None:
            self.text(label, box.center, size, ink, role="action", box=rect)
            return
        bx, _, bw, _ = self.key_badge(key, rect, size, inverse=True)
        rest = pygame.Rect(bx + bw, box.y, box.right - bx - bw, box.h)
        self.text(label, rest.center, size, ink, role="action", box=rect)

    def key_badge(self, key: int, rect: Rect, size: int, inverse: bool = False) -> Rect:
        """A key number in a high-contrast square at the left of *rect*: dark on white over
        a coloured button (*inverse*), white on dark elsewhere."""
        badge = self.layout.badge(rect)
        back, ink = (WHITE, INK) if inverse else (INK, WHITE)
        pygame.draw.rect(self.surface, back, badge, border_radius=6)
        centre = pygame.Rect(badge).center
        self.text(str(key), centre, size, ink, role="badge", box=badge)
        return badge

    def toggle(
        self, label: str, rect: Rect, selected: bool, size: int, key: int | None = None
    ) -> None:
        """A reason to tick; with *key*, the number of the key that ticks it, at *size* ≥
        the label size for the badge."""
        box = pygame.Rect(rect)
        pygame.draw.rect(self.surface, ACCENT if selected else WHITE, box, border_radius=10)
        pygame.draw.rect(self.surface, ACCENT, box, width=3, border_radius=10)
        text_box = box.inflate(-16, 0)
        if key is not None:
            bx, _, bw, _ = self.key_badge(key, rect, self.layout.label, inverse=selected)
            text_box = pygame.Rect(bx + bw + 8, box.y, box.right - bx - bw - 16, box.h)
        mark = "✓ " if selected else ""
        pitch = self.layout.pitch(size)
        room = max(1, (box.h - 8) // pitch)
        lines = self.wrap(mark + label, size, text_box.w, max_lines=min(4, room))
        y = box.y + (box.h - len(lines) * pitch) // 2
        for line in lines:
            ink = WHITE if selected else INK
            self.text(line, (text_box.centerx, y), size, ink, anchor="midtop", role="tag", box=rect)
            y += pitch

    def countdown(
        self, bar: Rect, left: int, total: int, seconds: str, box: Rect, size: int
    ) -> None:
        """A bar that shrinks as the seconds run out, and the seconds as a number."""
        x, y, w, h = bar
        pygame.draw.rect(self.surface, TRACK, bar, border_radius=h // 2)
        filled = round(w * max(0, min(left, total)) / max(1, total))
        if filled:
            colour = ACCENT if left > 5 else LEVEL_COLOURS[Level.VERY_DISSATISFIED]
            pygame.draw.rect(self.surface, colour, (x, y, filled, h), border_radius=h // 2)
        bx, by, bw, bh = box
        self.text(seconds, (bx + bw, by + bh // 2), size, INK, anchor="midright", role="seconds")


def draw_face(
    surface: pygame.Surface,
    centre: tuple[int, int],
    radius: int,
    level: Level,
    colour: Colour = WHITE,
) -> None:
    """A face icon: smile for satisfied, straight for basic, frown for dissatisfied."""
    cx, cy = centre
    width = max(2, radius // 8)
    pygame.draw.circle(surface, colour, centre, radius, width=width)
    eye = max(2, radius // 7)
    pygame.draw.circle(surface, colour, (cx - radius // 3, cy - radius // 4), eye)
    pygame.draw.circle(surface, colour, (cx + radius // 3, cy - radius // 4), eye)
    mouth = pygame.Rect(0, 0, radius, max(4, radius // 2))
    if level == Level.BASICALLY_SATISFIED:
        y = cy + radius // 3
        pygame.draw.line(surface, colour, (cx - radius // 3, y), (cx + radius // 3, y), width)
    elif level == Level.SATISFIED:
        mouth.center = (cx, cy + radius // 6)
        pygame.draw.arc(surface, colour, mouth, 3.5, 5.9, width)
    elif level == Level.VERY_SATISFIED:  # an open, laughing mouth
        half = radius // 2
        points = [
            (
                cx + half * math.cos(a / 10 * math.pi),
                cy + radius // 8 + half * math.sin(a / 10 * math.pi),
            )
            for a in range(11)
        ]
        pygame.draw.polygon(surface, colour, points)
    else:
        mouth.center = (cx, cy + radius // 2)
        pygame.draw.arc(surface, colour, mouth, 0.4, 2.75, width)
        if level == Level.VERY_DISSATISFIED:
            for sign in (-1, 1):
                pygame.draw.line(
                    surface,
                    colour,
                    (cx + sign * radius // 2, cy - radius // 2),
                    (cx + sign * radius // 6, cy - radius // 3),
                    width,
                )
