"""A screen test pattern for the technician: colour bars, a grid to spot dead areas, the five
level labels in the CJK font, and a number in the middle that the technician must read back
(so the test passes only when someone saw the glass)."""

from __future__ import annotations

import time
from pathlib import Path

import pygame
import pygame.freetype

from device.daemon.config import Config
from device.screen.fonts import FontChain, load_font
from device.screen.panel import open_panel
from device.screen.texts import Texts
from device.screen.widgets import LEVEL_COLOURS

BARS = [
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 255),
    (0, 255, 0),
    (255, 0, 255),
    (255, 0, 0),
    (0, 0, 255),
    (0, 0, 0),
]
NUMBER_INK = (255, 255, 255)
NUMBER_PAPER = (0, 0, 0)
NOTE = "请记下这个数字 / note this number"
SNAPSHOT_NAME = "test-pattern.png"


def number_cells(size: tuple[int, int], digits: int) -> list[pygame.Rect]:
    """Where each digit of the number is drawn: side by side, in the middle of the screen."""
    width, height = size
    cell_w, cell_h = width // 10, height // 4
    left = (width - cell_w * digits) // 2
    top = (height - cell_h) // 2
    return [pygame.Rect(left + i * cell_w, top, cell_w, cell_h) for i in range(digits)]


def digit_image(font: pygame.freetype.Font, digit: str, cell: pygame.Rect) -> pygame.Surface:
    """One digit as drawn in its cell: white on black, centred."""
    image = pygame.Surface(cell.size)
    image.fill(NUMBER_PAPER)
    glyph, box = font.render(digit, NUMBER_INK, NUMBER_PAPER, size=cell.h * 3 // 4)
    image.blit(glyph, ((cell.w - box.w) // 2, (cell.h - box.h) // 2))
    return image


def draw_pattern(surface: pygame.Surface, font: FontChain, texts: Texts, number: str) -> None:
    width, height = surface.get_size()
    bar = width // len(BARS)
    for i, colour in enumerate(BARS):
        pygame.draw.rect(surface, colour, (i * bar, 0, bar + 1, height // 2))
    pygame.draw.rect(surface, (40, 40, 40), (0, height // 2, width, height - height // 2))
    for x in range(0, width, 40):
        pygame.draw.line(surface, (90, 90, 90), (x, height // 2), (x, height))
    for y in range(height // 2, height, 40):
        pygame.draw.line(surface, (90, 90, 90), (0, y), (width, y))
    cell = width // 5
    for i, (level, colour) in enumerate(LEVEL_COLOURS.items()):
        font.render_to(
            surface,
            (i * cell + 8, height * 4 // 5),
            texts.level(level),
            colour,
            size=max(14, cell // 6),
        )
    cells = number_cells((width, height), len(number))
    box = cells[0].unionall(cells[1:]).inflate(24, 24 + height // 10)
    pygame.draw.rect(surface, NUMBER_PAPER, box)
    pygame.draw.rect(surface, NUMBER_INK, box, width=2)
    note_size = max(12, height // 30)
    font.render_to(surface, (box.x + 8, box.y + 6), NOTE, NUMBER_INK, size=note_size)
    for digit, where in zip(number, cells, strict=True):
        surface.blit(digit_image(font.fonts[0], digit, where), where.topleft)
    pygame.draw.rect(surface, (255, 255, 255), (0, 0, width, height), width=2)


def show_pattern(config: Config, seconds: float, number: str) -> tuple[int, int]:
    """Show the pattern with *number* for *seconds*; the panel's size. With [display]
    snapshot_dir set, what was shown is also saved there as test-pattern.png."""
    texts = Texts(config.display.language)
    font = load_font(
        config.display.font, [*texts.all_strings(), NOTE], config.display.fallback_fonts
    )
    panel = open_panel(config.display)
    try:
        surface = panel.surface
        draw_pattern(surface, font, texts, number)
        panel.show()
        if config.display.snapshot_dir:
            folder = Path(config.display.snapshot_dir)
            folder.mkdir(parents=True, exist_ok=True)
            pygame.image.save(surface, str(folder / SNAPSHOT_NAME))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            panel.inputs()  # keeps an SDL window answering; taps do not matter here
            time.sleep(0.05)
        return surface.get_size()
    finally:
        panel.close()
